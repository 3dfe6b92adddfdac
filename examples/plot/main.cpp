// paramkit-plot: SVG charts of CSV tables with the library's one plotter (io/svg_plot.h), for the
// example pipelines: grouped bars (one group per row) and lines (y columns against an x column).
#include <fmt/format.h>

#include <cmath>

#include "paramkit/cli/options.h"
#include "paramkit/cli/tool.h"
#include "paramkit/core/error.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/io/csv.h"
#include "paramkit/io/svg_plot.h"

using namespace paramkit;

namespace {
struct PlotResult {
  size_t rows = 0, series = 0;
};
void to_json(nlohmann::json& j, const PlotResult& r) { j = {{"rows", r.rows}, {"series", r.series}}; }

// Columns to draw: the named ones, or every numeric column but `skip`.
std::vector<const Column*> pick(const Table& t, const std::vector<std::string>& names, const std::string& skip) {
  std::vector<const Column*> cols;
  if (!names.empty()) {
    for (const auto& n : names) cols.push_back(&t.numeric(n));
    return cols;
  }
  for (const auto& c : t.columns)
    if (c.numeric && c.name != skip) cols.push_back(&c);
  if (cols.empty()) throw InputError(t.source, "", "no numeric column to plot");
  return cols;
}

struct BarCommand : cli::TypedCommand<PlotResult> {
  BarCommand()
      : TypedCommand("bar", "Grouped bar chart: one group per row (named by the first column), one bar per numeric column",
                     "paramkit-plot bar tests/data/merge-table.csv --y-max 1 --title \"accuracy per task\" -o /tmp/bars.svg") {}
  void add_options(CLI::App& app) override {
    app.add_option("table", path, "CSV with a header row")->required();
    app.add_option("--groups", groups, "Column naming the groups (default: the first column)");
    app.add_option("--columns", columns, "Numeric columns to draw (default: every numeric one)")->delimiter(',');
    app.add_option("--title", title, "Chart title");
    app.add_option("--y-max", y_max, "Top of the y axis (default: the largest value, rounded up)")->check(CLI::Range(-1e300, 1e300));
    cli::add_output(app, out, "SVG file");
  }
  PlotResult run(cli::Context&) override {
    const Table t = read_csv(path);
    const Column& g = t.col(groups.empty() ? t.columns.front().name : groups);
    BarChart chart;
    chart.title = title;
    for (const Column* c : pick(t, columns, g.name)) chart.series.push_back(c->name);
    for (size_t r = 0; r < t.rows; ++r) {
      chart.groups.push_back(g.numeric ? fmt::format("{}", g.values[r]) : g.strings[r]);
      std::vector<double> row;
      for (const auto& s : chart.series) row.push_back(t.col(s).values[r]);
      chart.values.push_back(row);
    }
    chart.y_max = y_max;
    write_file_atomic(out, svg_bar_chart(chart));
    return {t.rows, chart.series.size()};
  }
  std::string path, groups, title, out;
  std::vector<std::string> columns;
  double y_max = NAN;
};

struct LinesCommand : cli::TypedCommand<PlotResult> {
  LinesCommand()
      : TypedCommand("lines", "Line chart of numeric columns against an x column (linear or log axes)",
                     "paramkit-plot lines tests/data/survival/veteran.csv --x time --y karno --points -o /tmp/lines.svg") {}
  void add_options(CLI::App& app) override {
    app.add_option("table", path, "CSV with a header row")->required();
    app.add_option("--x", x, "The x column")->required();
    app.add_option("--y", ys, "y columns (default: every other numeric column)")->delimiter(',');
    app.add_option("--title", title, "Chart title");
    app.add_flag("--log-x", log_x, "Logarithmic x axis");
    app.add_flag("--log-y", log_y, "Logarithmic y axis");
    app.add_flag("--points", points, "Points instead of lines");
    cli::add_output(app, out, "SVG file");
  }
  PlotResult run(cli::Context&) override {
    const Table t = read_csv(path);
    const Column& xc = t.numeric(x);
    std::vector<PlotSeries> series;
    for (const Column* c : pick(t, ys, x)) {
      PlotSeries s;
      s.label = c->name;
      s.x = xc.values;
      s.y = c->values;
      s.line = !points;
      s.points = points;
      series.push_back(s);
    }
    PlotOptions po;
    po.title = title;
    po.x_label = x;
    po.log_x = log_x;
    po.log_y = log_y;
    write_file_atomic(out, svg_plot(series, po));
    return {t.rows, series.size()};
  }
  std::string path, x, title, out;
  std::vector<std::string> ys;
  bool log_x = false, log_y = false, points = false;
};
}  // namespace

int main(int argc, char** argv) {
  cli::Tool tool("paramkit-plot", "SVG charts of CSV tables (grouped bars, lines) with paramkit's plotter.");
  tool.add<BarCommand>();
  tool.add<LinesCommand>();
  return tool.main(argc, argv);
}
