// intdim-probe summarize: d_int (e.g. d_int90) of a sweep's reports against the individual baseline
// (mean direct accuracy) and the global one, with a plot of accuracy against d.
#include <fmt/format.h>

#include <cmath>
#include <iostream>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/signals.h"
#include "paramkit/intdim/summarize.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/io/json.h"
#include "paramkit/io/svg_plot.h"

using namespace paramkit;

namespace {
struct SummaryResult {
  nlohmann::json summary;
};
void to_json(nlohmann::json& j, const SummaryResult& r) { j = r.summary; }

std::string accuracy_plot(const std::vector<intdim::Run>& runs, const intdim::Summary& s, const std::string& metric) {
  PlotSeries points, means;
  points.label = "runs";
  means.label = "mean over seeds";
  points.line = false;
  points.points = true;
  double dmin = INFINITY, dmax = 0;
  for (const auto& r : runs)
    if (r.d > 0) {
      points.x.push_back(static_cast<double>(r.d));
      points.y.push_back(r.accuracy);
      dmin = std::min(dmin, static_cast<double>(r.d));
      dmax = std::max(dmax, static_cast<double>(r.d));
    }
  for (const auto& l : s.levels)
    if (l.d > 0) {
      means.x.push_back(static_cast<double>(l.d));
      means.y.push_back(l.mean);
    }
  std::vector<PlotSeries> series = {points, means};
  for (const auto& t : s.thresholds) {
    PlotSeries base, target;
    base.label = t.baseline_name + " baseline " + fmt::format("{:.4f}", t.baseline);
    target.label = fmt::format("{:.0f}% of it", 100 * s.threshold);
    base.x = target.x = {dmin, dmax};
    base.y = {t.baseline, t.baseline};
    target.y = {t.target, t.target};
    base.dash = Dash::dashed;
    target.dash = Dash::dotted;
    series.push_back(base);
    series.push_back(target);
  }
  PlotOptions o;
  o.title = "accuracy against the subspace dimension d";
  o.x_label = "d";
  o.y_label = metric == "train_accuracy" ? "training accuracy" : "test accuracy";
  o.log_x = true;
  return svg_plot(series, o);
}

struct SummarizeCommand : cli::TypedCommand<SummaryResult> {
  SummarizeCommand()
      : TypedCommand("summarize", "d_int (e.g. d_int90) of a sweep's train reports against the individual and the global baseline",
                     "intdim-probe summarize tests/data/intdim/run-*.json --threshold 0.9 -o /tmp/intdim-summary.json --plot /tmp/intdim.svg --table") {}
  void add_options(CLI::App& app) override {
    app.add_option("reports", reports, "intdim-probe train reports (d = 0 runs give the individual baseline)")->required();
    app.add_option("--metric", metric, "test_accuracy, or train_accuracy (memorisation of shuffled labels)")
        ->capture_default_str()
        ->check(CLI::IsMember({"test_accuracy", "train_accuracy"}));
    app.add_option("--threshold", threshold, "Fraction of the baseline to reach (0.9: d_int90, 1: d_int100)")->capture_default_str()->check(CLI::Range(1e-6, 1.0));
    app.add_option("--global-baseline", global, "The global baseline accuracy (the paper: 1.0 for MNIST)")->capture_default_str()->check(CLI::Range(1e-6, 1.0));
    cli::add_output(app, out, "Summary (JSON)");
    cli::add_output_file(app, "--plot", plot, "Accuracy against d with the baselines and thresholds (SVG)");
    cli::add_print(app, print, true, false);
  }
  SummaryResult run(cli::Context&) override {
    const auto runs = intdim::read_runs(reports, metric);
    const intdim::Summary s = intdim::summarize(runs, threshold, global);
    nlohmann::json j = intdim::to_json(s);
    j["metric"] = metric;
    const std::string svg = plot.empty() ? "" : accuracy_plot(runs, s, metric);
    check_stop();
    write_report(out, j);
    if (!plot.empty()) write_file_atomic(plot, svg);
    if (print.table) {
      std::cout << fmt::format("{:>10} {:>8} {:>8} {:>5}\n", "d", "mean", "sd", "runs");
      for (const auto& l : s.levels) std::cout << fmt::format("{:>10} {:>8.4f} {:>8.4f} {:>5}\n", l.d == 0 ? std::string("direct") : std::to_string(l.d), l.mean, l.sd, l.runs);
      for (const auto& t : s.thresholds)
        std::cout << (t.reached ? fmt::format("d_int{:.0f} ({} baseline {:.4f}): {} (interpolated {:.1f})\n", 100 * threshold, t.baseline_name, t.baseline, t.d,
                                              t.d_interpolated)
                                : fmt::format("d_int{:.0f} ({} baseline {:.4f}): not reached up to d = {}\n", 100 * threshold, t.baseline_name,
                                              t.baseline, t.below ? t.below->d : 0));
    }
    return {j};
  }
  std::vector<std::string> reports;
  double threshold = 0.9, global = 1.0;
  std::string out, plot, metric = "test_accuracy";
  cli::PrintOptions print;
};
}  // namespace

void add_summarize(cli::Tool& tool) { tool.add<SummarizeCommand>(); }
