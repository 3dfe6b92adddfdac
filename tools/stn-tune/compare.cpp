// stn-tune compare: tune reports, search results (DIR/search.json) and retrain reports -> per method the
// best validation and test accuracy (mean and sd over seeds) against the epochs spent: a table, JSON and
// a plot.
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
struct Row {
  Sample val, test, epochs;
};

struct CompareResult {
  nlohmann::json j;
};
void to_json(nlohmann::json& j, const CompareResult& r) { j = r.j; }

const std::vector<std::string> kMethods = {"stn", "stn-schedule", "stn-final", "grid", "random", "halving", "fixed"};

struct CompareCommand : cli::TypedCommand<CompareResult> {
  CompareCommand()
      : TypedCommand("compare", "Best validation and test accuracy per method against the epochs spent (mean and sd over seeds): table, JSON, plot",
                     "stn-tune compare tests/data/stn/tune-s0.json tests/data/stn/random-s0.json -o /tmp/stn-compare.json --table") {}
  void add_options(CLI::App& app) override {
    app.add_option("reports", reports, "tune reports, search results (DIR/search.json) and retrain reports")->required();
    cli::add_output(app, out, "Comparison (JSON)");
    cli::add_output_file(app, "--plot", plot, "Test accuracy against epochs spent per method (SVG)");
    cli::add_print(app, print, true, false);
  }
  CompareResult run(cli::Context&) override {
    std::map<std::string, Row> rows;
    for (const auto& p : reports) {
      const nlohmann::json j = read_json(p);
      if (!j.is_object()) throw InputError(p, "", "expected a stn-tune report (a JSON object)");
      const auto& m = json_field(j, "method", p);
      if (!m.is_string() || std::find(kMethods.begin(), kMethods.end(), m.get<std::string>()) == kMethods.end())
        throw InputError(p, "method", "expected a stn-tune tune, search or retrain report");
      auto number = [&](const char* key, double lo, double hi) {
        const auto& v = json_field(j, key, p);
        if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < lo || v.get<double>() > hi)
          throw InputError(p, key, fmt::format("expected a number in [{}, {}] (an unfinished run has none)", lo, hi));
        return v.get<double>();
      };
      Row& r = rows[m.get<std::string>()];
      r.val.add(number("val_accuracy", 0, 1));
      r.test.add(number("test_accuracy", 0, 1));
      r.epochs.add(number("epochs_spent", 0, 1e9));
    }
    nlohmann::json table = nlohmann::json::array();
    std::vector<PlotSeries> series;
    for (const auto& m : kMethods) {
      auto it = rows.find(m);
      if (it == rows.end()) continue;
      const Row& r = it->second;
      table.push_back({{"method", m}, {"runs", r.test.size()}, {"epochs_spent", r.epochs.mean()}, {"val_mean", r.val.mean()}, {"val_sd", r.val.sd()},
                       {"test_mean", r.test.mean()}, {"test_sd", r.test.sd()}});
      PlotSeries s;
      s.label = m;
      s.points = true;
      s.line = false;
      s.x = {r.epochs.mean()};
      s.y = {r.test.mean()};
      s.y_err = {r.test.sd()};
      series.push_back(s);
    }
    std::string svg;
    if (!plot.empty()) {
      PlotOptions o;
      o.title = "test accuracy of the best configuration against epochs spent (mean and sd over seeds)";
      o.x_label = "training epochs spent (STN: weight and hyperparameter steps)";
      o.y_label = "test accuracy";
      svg = svg_plot(series, o);
    }
    nlohmann::json result = {{"rows", table}};
    check_stop();
    write_report(out, result);
    if (!plot.empty()) write_file_atomic(plot, svg);
    if (print.table) {
      std::cout << fmt::format("{:<13} {:>5} {:>8} {:>9} {:>8} {:>9} {:>8}\n", "method", "runs", "epochs", "val", "sd", "test", "sd");
      for (const auto& r : table)
        std::cout << fmt::format("{:<13} {:>5} {:>8.1f} {:>9.4f} {:>8.4f} {:>9.4f} {:>8.4f}\n", r["method"].get<std::string>(), r["runs"].get<size_t>(),
                                 r["epochs_spent"].get<double>(), r["val_mean"].get<double>(), r["val_sd"].get<double>(), r["test_mean"].get<double>(),
                                 r["test_sd"].get<double>());
    }
    return {result};
  }
  std::vector<std::string> reports;
  std::string out, plot;
  cli::PrintOptions print;
};
}  // namespace

void add_compare(cli::Tool& tool) { tool.add<CompareCommand>(); }
