// The one SVG plotter of the tools' diagnostics: line, step and scatter series on linear or log axes
// (orbits, energy error, error-vs-cost fronts, survival curves) and grouped bar charts (merge results).
// No plotting library needed; the output is deterministic text.
#pragma once
#include <cmath>
#include <string>
#include <vector>

namespace paramkit {

enum class Dash { solid, dashed, dotted };

struct PlotSeries {
  std::string label;
  std::vector<double> x, y;  // points that are not finite (or not positive on a log axis) are skipped
  std::vector<double> y_err;  // empty, or a symmetric error bar (y - e, y + e) per point
  bool line = true, points = false;
  bool step = false;         // line drawn as a right-continuous step function (Kaplan-Meier)
  Dash dash = Dash::solid;
  double line_width = 1.4;
  int color = -1;            // palette index; -1: the series' position
  bool legend = true;        // a legend row (with the label) for this series
};

struct PlotOptions {
  std::string title, x_label, y_label;
  bool log_x = false, log_y = false;
  bool equal_aspect = false;  // same scale on both axes (orbits)
  // Fixed axis ends in data units; NaN: from the data, with a small margin. Data beyond them is clipped.
  double x_min = NAN, x_max = NAN, y_min = NAN, y_max = NAN;
  int width = 640, height = 440;
};

std::string svg_plot(const std::vector<PlotSeries>& series, const PlotOptions& options);

// Grouped bars: one group per entry of `groups` (e.g. a model), one bar per entry of `series` within each
// group (e.g. a task), values[group][series]; a legend of the series below the chart.
struct BarChart {
  std::string title, y_label;
  std::vector<std::string> groups, series;
  std::vector<std::vector<double>> values;  // NaN: no bar
  std::vector<int> colors;                  // palette index per series; empty: the series' position
  double y_min = 0, y_max = NAN;            // NaN: the largest value, rounded up to a tick
  int bar_width = 14, group_gap = 18, plot_height = 220;

  void validate() const;  // throws paramkit::Error when values is not groups x series
};

std::string svg_bar_chart(const BarChart& chart);

// The colour of a palette index (wraps around), as used by both plots.
const char* palette_color(int index);

}  // namespace paramkit
