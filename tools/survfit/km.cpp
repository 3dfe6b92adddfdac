// survfit km: Kaplan-Meier curves (per group) with Greenwood standard errors, confidence intervals and
// medians, as JSON, CSV and SVG.
#include <iostream>

#include "commands.h"
#include "data_flags.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/io/csv.h"
#include "paramkit/survival/report.h"

using namespace paramkit;
using namespace paramkit::survival;

namespace {
struct KmMetrics {
  size_t groups = 0;
};
void to_json(nlohmann::json& j, const KmMetrics& r) { j = {{"groups", r.groups}}; }

struct KmCommand : cli::TypedCommand<KmMetrics> {
  KmCommand()
      : TypedCommand("km", "Kaplan-Meier estimate with Greenwood confidence intervals and the median",
                     "survfit km tests/data/survival/veteran.csv --by trt --times 100,200 -o /tmp/km.json --csv /tmp/km.csv --table") {}
  void add_options(CLI::App& app) override {
    data.add(app, "CSV with time and status");
    app.add_option("--by", by, "Separate curves per level of this column");
    app.add_option("--times", times, "Report S(t) at these times (comma-separated)");
    cli::add_output(app, out, "Report (JSON)");
    cli::add_output_file(app, "--csv", csv, "The survival table as CSV");
    cli::add_output_file(app, "--plot", plot, "Plot of the curves (SVG)");
    cli::add_print(app, print, true, false);
  }
  KmMetrics run(cli::Context&) override {
    const std::vector<double> at = cli::parse_list(times, "--times");
    for (double t : at)
      if (t < 0) throw UsageError("--times: times must be >= 0");
    KmReport rep = run_km(data.path, data.options(), by, at);
    // Every output is made before any is written (a failure leaves none); the report streams its rows.
    const std::string svg = plot.empty() ? "" : km_plot_svg(rep, data.path);
    Table table;
    if (!csv.empty()) table = km_table(rep);
    check_stop();
    write_km_report(out, rep);
    if (!csv.empty()) write_csv(csv, table);
    if (!plot.empty()) write_file_atomic(plot, svg);
    if (print.table) std::cout << format_km(rep);
    return {rep.curves.size()};
  }
  DataFlags data;
  std::string by, times, out, csv, plot;
  cli::PrintOptions print;
};
}  // namespace

void add_km(cli::Tool& tool) { tool.add<KmCommand>(); }
