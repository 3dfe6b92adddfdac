// rps-compress summarize: test accuracy against compression per method (mean and sd over seeds), as a
// table, JSON and a plot with error bars.
#include <fmt/format.h>

#include <cmath>
#include <iostream>
#include <map>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/core/sample.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/io/json.h"
#include "paramkit/io/svg_plot.h"

using namespace paramkit;

namespace {
struct SummaryResult {
  nlohmann::json summary;
};
void to_json(nlohmann::json& j, const SummaryResult& r) { j = r.summary; }

const std::vector<std::string> kOrder = {"dense", "rps", "roast", "hashednet", "mag", "snip", "grasp", "synflow", "ltr"};

struct SummarizeCommand : cli::TypedCommand<SummaryResult> {
  SummarizeCommand()
      : TypedCommand("summarize", "Accuracy against compression per method over a sweep's reports: table, JSON and a plot with error bars",
                     "rps-compress summarize tests/data/rps/run-*.json -o /tmp/rps-summary.json --plot /tmp/rps.svg --table") {}
  void add_options(CLI::App& app) override {
    app.add_option("reports", reports, "rps-compress train reports")->required();
    cli::add_output(app, out, "Summary (JSON)");
    cli::add_output_file(app, "--plot", plot, "Accuracy against compression per method (SVG)");
    cli::add_print(app, print, true, false);
  }
  SummaryResult run(cli::Context&) override {
    std::map<std::string, std::map<double, Sample>> cells;  // method -> compression -> accuracies
    std::string model, model_source;
    for (const auto& p : reports) {
      const nlohmann::json j = read_json(p);
      if (!j.is_object()) throw InputError(p, "", "expected an rps-compress train report (a JSON object)");
      const auto& m = json_field(j, "method", p);
      const auto& c = json_field(j, "compression", p);
      const auto& a = json_field(j, "test_accuracy", p);
      if (!m.is_string() || std::find(kOrder.begin(), kOrder.end(), m.get<std::string>()) == kOrder.end())
        throw InputError(p, "method", "expected one of rps-compress train's methods");
      if (!c.is_number() || !(c.get<double>() > 0 && c.get<double>() <= 1)) throw InputError(p, "compression", "expected a number in (0, 1]");
      if (!a.is_number() || !std::isfinite(a.get<double>()) || a.get<double>() < 0 || a.get<double>() > 1)
        throw InputError(p, "test_accuracy", "expected a number in [0, 1] (an unfinished run has null)");
      const std::string mm = json_field(j, "model", p).is_string() ? j["model"].get<std::string>() : "";
      if (model_source.empty()) {
        model = mm;
        model_source = p;
      } else if (mm != model) {
        throw InputError(p, "model", "'" + mm + "' but " + model_source + " is '" + model + "': one sweep, one model");
      }
      cells[m.get<std::string>()][c.get<double>()].add(a.get<double>());
    }
    nlohmann::json rows = nlohmann::json::array();
    std::vector<PlotSeries> series;
    double dense_acc = NAN;
    for (const auto& method : kOrder) {
      auto it = cells.find(method);
      if (it == cells.end()) continue;
      PlotSeries s;
      s.label = method;
      s.points = true;
      for (auto c = it->second.rbegin(); c != it->second.rend(); ++c) {
        rows.push_back({{"method", method}, {"compression", c->first}, {"mean", c->second.mean()}, {"sd", c->second.sd()}, {"runs", c->second.size()}});
        s.x.push_back(c->first);
        s.y.push_back(c->second.mean());
        s.y_err.push_back(c->second.sd());
      }
      if (method == "dense") {
        dense_acc = it->second.begin()->second.mean();
        continue;
      }
      series.push_back(s);
    }
    if (std::isfinite(dense_acc) && !series.empty()) {
      double lo = INFINITY, hi = 0;
      for (const auto& s : series)
        for (double x : s.x) lo = std::min(lo, x), hi = std::max(hi, x);
      PlotSeries d;
      d.label = fmt::format("dense {:.4f}", dense_acc);
      d.x = {lo, hi};
      d.y = {dense_acc, dense_acc};
      d.dash = Dash::dashed;
      d.color = 8;
      series.push_back(d);
    }
    nlohmann::json summary = {{"model", model}, {"rows", rows}};
    std::string svg;
    if (!plot.empty()) {
      PlotOptions o;
      o.title = "test accuracy against compression (mean and sd over seeds)";
      o.x_label = "fraction of the weights kept";
      o.y_label = "test accuracy";
      o.log_x = true;
      svg = svg_plot(series, o);
    }
    check_stop();
    write_report(out, summary);
    if (!plot.empty()) write_file_atomic(plot, svg);
    if (print.table) {
      std::cout << fmt::format("{:<10} {:>12} {:>8} {:>8} {:>5}\n", "method", "compression", "mean", "sd", "runs");
      for (const auto& r : rows)
        std::cout << fmt::format("{:<10} {:>12g} {:>8.4f} {:>8.4f} {:>5}\n", r["method"].get<std::string>(), r["compression"].get<double>(),
                                 r["mean"].get<double>(), r["sd"].get<double>(), r["runs"].get<size_t>());
    }
    return {summary};
  }
  std::vector<std::string> reports;
  std::string out, plot;
  cli::PrintOptions print;
};
}  // namespace

void add_summarize(cli::Tool& tool) { tool.add<SummarizeCommand>(); }
