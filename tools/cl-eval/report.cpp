// cl-eval report: the two protocols side by side: per algorithm the final and average incremental
// accuracy, forgetting and BWT of phase 2 (mean and sd over seeds), the conventional protocol's best
// score on the same data (mean over the conventional folders given, e.g. one per seed), the
// overestimation gap, and the rankings under both; a table, JSON and a bar chart.
#include <fmt/format.h>

#include <algorithm>
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
struct ReportResult {
  nlohmann::json j;
};
void to_json(nlohmann::json& j, const ReportResult& r) { j = r.j; }

std::vector<int> ranks(const std::vector<double>& v) {  // 1 = best
  std::vector<size_t> o(v.size());
  for (size_t i = 0; i < o.size(); ++i) o[i] = i;
  std::stable_sort(o.begin(), o.end(), [&](size_t a, size_t b) { return v[a] > v[b]; });
  std::vector<int> r(v.size());
  for (size_t k = 0; k < o.size(); ++k) r[o[k]] = static_cast<int>(k) + 1;
  return r;
}

struct ReportCommand : cli::TypedCommand<ReportResult> {
  ReportCommand()
      : TypedCommand("report", "Both protocols side by side: metrics, the overestimation gap and the rankings; table, JSON, bar chart",
                     "cl-eval report --two-phase tests/data/cl/evaluate.json --conventional tests/data/cl/conventional.json -o /tmp/cl-report.json --table") {}
  void add_options(CLI::App& app) override {
    app.add_option("--two-phase", two_phase, "evaluate.json of cl-eval evaluate")->required()->check(CLI::ExistingFile);
    app.add_option("--conventional", conventional, "tune.json of cl-eval conventional (one or more: averaged)")->required()->check(CLI::ExistingFile);
    cli::add_output(app, out, "Report (JSON)");
    cli::add_output_file(app, "--plot", plot, "Final accuracy per algorithm under both protocols (SVG bars)");
    cli::add_print(app, print, true, false);
  }
  ReportResult run(cli::Context&) override {
    const nlohmann::json ev = read_json(two_phase);
    if (!ev.is_object() || ev.value("protocol", "") != "two-phase" || !ev.contains("algorithms"))
      throw InputError(two_phase, "protocol", "expected cl-eval evaluate's evaluate.json");
    std::map<std::string, Sample> conv;
    for (const auto& c : conventional) {
      const nlohmann::json j = read_json(c);
      if (!j.is_object() || j.value("protocol", "") != "conventional" || !j.contains("algorithms"))
        throw InputError(c, "protocol", "expected cl-eval conventional's tune.json");
      for (const auto& [a, v] : j["algorithms"].items()) {
        if (!v.contains("best") || !v["best"].contains("metrics")) throw InputError(c, "algorithms." + a + ".best", "no finished configuration");
        conv[a].add(v["best"]["metrics"]["final"].get<double>());
      }
    }
    std::vector<std::string> names;
    std::vector<double> tp, cv;
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& [a, v] : ev["algorithms"].items()) {
      if (!conv.count(a)) continue;
      names.push_back(a);
      tp.push_back(v["metrics"]["final"]["mean"].get<double>());
      cv.push_back(conv[a].mean());
    }
    if (names.empty()) throw UsageError("no algorithm appears in both the two-phase and the conventional results");
    const auto rt = ranks(tp), rc = ranks(cv);
    int moved = 0;
    for (size_t i = 0; i < names.size(); ++i) {
      const auto& m = ev["algorithms"][names[i]]["metrics"];
      moved += rt[i] != rc[i];
      rows.push_back({{"algorithm", names[i]},
                      {"final", m["final"]},
                      {"average_incremental", m["average_incremental"]},
                      {"forgetting", m["forgetting"]},
                      {"bwt", m["bwt"]},
                      {"conventional_final", {{"mean", conv[names[i]].mean()}, {"sd", conv[names[i]].sd()}, {"runs", conv[names[i]].size()}}},
                      {"gap", cv[i] - tp[i]},
                      {"rank_two_phase", rt[i]},
                      {"rank_conventional", rc[i]}});
    }
    std::sort(rows.begin(), rows.end(), [](const nlohmann::json& a, const nlohmann::json& b) { return a["rank_two_phase"] < b["rank_two_phase"]; });
    double gap = 0;
    for (size_t i = 0; i < names.size(); ++i) gap += cv[i] - tp[i];
    nlohmann::json result = {{"rows", rows}, {"mean_gap", gap / static_cast<double>(names.size())}, {"ranks_changed", moved}};
    std::string svg;
    if (!plot.empty()) {
      BarChart b;
      b.title = "final accuracy on D_E: conventional (tuned there) against two-phase (tuned on D_HT)";
      b.y_label = "final accuracy";
      b.series = {"conventional", "two-phase"};
      for (const auto& r : rows) {
        b.groups.push_back(r["algorithm"].get<std::string>());
        b.values.push_back({r["conventional_final"]["mean"].get<double>(), r["final"]["mean"].get<double>()});
      }
      svg = svg_bar_chart(b);
    }
    check_stop();
    write_report(out, result);
    if (!plot.empty()) write_file_atomic(plot, svg);
    if (print.table) {
      std::cout << fmt::format("{:<9} {:>15} {:>8} {:>8} {:>8} {:>12} {:>7} {:>5} {:>5}\n", "algorithm", "final (sd)", "avg inc", "forget", "bwt",
                               "conventional", "gap", "rank", "conv");
      for (const auto& r : rows)
        std::cout << fmt::format("{:<9} {:>7.4f} ({:.4f}) {:>8.4f} {:>8.4f} {:>8.4f} {:>12.4f} {:>+7.4f} {:>5} {:>5}\n", r["algorithm"].get<std::string>(),
                                 r["final"]["mean"].get<double>(), r["final"]["sd"].get<double>(), r["average_incremental"]["mean"].get<double>(),
                                 r["forgetting"]["mean"].get<double>(), r["bwt"]["mean"].get<double>(), r["conventional_final"]["mean"].get<double>(),
                                 r["gap"].get<double>(), r["rank_two_phase"].get<int>(), r["rank_conventional"].get<int>());
      std::cout << fmt::format("mean gap {:+.4f}; {} of {} algorithms change rank\n", result["mean_gap"].get<double>(), moved, names.size());
    }
    return {result};
  }
  std::string two_phase, out, plot;
  std::vector<std::string> conventional;
  cli::PrintOptions print;
};
}  // namespace

void add_report(cli::Tool& tool) { tool.add<ReportCommand>(); }
