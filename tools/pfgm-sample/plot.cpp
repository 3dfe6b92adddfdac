// pfgm-sample plot: a sample-quality measure of evaluate reports against a run setting (a robustness
// perturbation, the sampler's steps), one line per D, mean and standard deviation over seeds; the
// study's figure.
#include <fmt/format.h>

#include <filesystem>
#include <map>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/core/sample.h"
#include "paramkit/gen/model.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/io/json.h"
#include "paramkit/io/svg_plot.h"

using namespace paramkit;

namespace {
struct PlotCommand : cli::Command {
  PlotCommand()
      : Command("plot", "Plot a quality measure of evaluate reports against a perturbation or the steps, one line per D (SVG)",
                "pfgm-sample plot tests/data/pfgm/eval-d128.json tests/data/pfgm/eval-dinf.json --x output_noise --metric w2 -o /tmp/robustness.svg") {}
  void add_options(CLI::App& app) override {
    app.add_option("reports", reports, "evaluate reports (JSON)")->required()->check(CLI::ExistingFile);
    app.add_option("--x", x_field, "The run setting on the x axis")
        ->capture_default_str()
        ->check(CLI::IsMember({"weight_noise", "output_noise", "quantize_bits", "steps", "churn"}));
    app.add_option("--metric", metric, "The measure on the y axis")
        ->capture_default_str()
        ->check(CLI::IsMember({"fd", "mmd2", "w2", "precision", "recall", "class_score", "confident_fraction"}));
    app.add_flag("--log-y", log_y, "Logarithmic y axis");
    app.add_option("--title", title, "Plot title");
    app.add_option("--summary", summary, "Also write the plotted points (mean, sd, runs per D and x) as JSON");
    cli::add_output(app, out, "The plot (SVG)");
  }
  nlohmann::json execute(cli::Context&) override {
    // D -> x -> values
    std::map<double, std::map<double, Sample>> groups;
    std::map<double, std::string> names;
    for (const auto& path : reports) {
      const nlohmann::json j = read_json(path);
      if (!j.contains("run") || !j["run"].is_object() || !j["run"].contains("D"))
        throw InputError(path, "run", "not a pfgm-sample evaluate report of samples with a run description (.h5/.safetensors samples)");
      const auto& run = j["run"];
      if (!run.contains(x_field) || !run[x_field].is_number()) throw InputError(path, "run." + x_field, "missing or not a number");
      if (!j.contains(metric)) throw InputError(path, metric, "missing: this report has no such measure (images: fd...; points: mmd2, w2...)");
      const double D = gen::parse_D(run["D"].get<std::string>(), path + ": run.D");
      double xv = run[x_field].get<double>();
      if (x_field == "quantize_bits" && xv == 0) xv = 32;  // unquantised float32
      names[D] = run["D"].get<std::string>();
      if (j[metric].is_number()) groups[D][xv].add(j[metric].get<double>());
    }
    std::vector<PlotSeries> series;
    nlohmann::json table = nlohmann::json::array();
    int color = 0;
    for (const auto& [D, xs] : groups) {
      PlotSeries s;
      s.label = "D = " + names[D];
      s.points = true;
      s.color = color++;
      for (const auto& [xv, v] : xs) {
        s.x.push_back(xv);
        s.y.push_back(v.mean());
        s.y_err.push_back(v.size() > 1 ? v.sd() : 0.0);
        table.push_back({{"D", names[D]}, {x_field, xv}, {metric, v.mean()}, {"sd", v.size() > 1 ? v.sd() : 0.0}, {"runs", v.size()}});
      }
      series.push_back(s);
    }
    if (!summary.empty() && std::filesystem::path(summary) == std::filesystem::path(out)) throw UsageError("--summary and --output must differ");
    if (series.empty()) throw InputError(reports.front(), metric, "no finite values to plot");
    PlotOptions o;
    o.title = title.empty() ? fmt::format("{} vs {}", metric, x_field) : title;
    o.x_label = x_field == "quantize_bits" ? "bits (32: unquantised)" : x_field;
    o.y_label = metric;
    o.log_y = log_y;
    write_file_atomic(out, svg_plot(series, o));
    const nlohmann::json r = {{"output", out}, {"x", x_field}, {"metric", metric}, {"points", table}};
    if (!summary.empty()) write_report(summary, r);
    return r;
  }
  std::vector<std::string> reports;
  std::string x_field = "output_noise", metric = "fd", title, out, summary;
  bool log_y = false;
};
}  // namespace

void add_plot(cli::Tool& tool) { tool.add<PlotCommand>(); }
