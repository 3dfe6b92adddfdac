// Small SVG line/scatter plots (linear or log axes) for the tools' diagnostics: orbits, energy error
// over time, error-vs-cost fronts. No plotting library needed; the output is deterministic text.
#pragma once
#include <string>
#include <vector>

namespace paramkit {

struct PlotSeries {
  std::string label;
  std::vector<double> x, y;
  bool line = true, points = false;
  int color = -1;  // palette index; -1: the series' position
};

struct PlotOptions {
  std::string title, x_label, y_label;
  bool log_x = false, log_y = false;
  bool equal_aspect = false;  // same scale on both axes (orbits)
  int width = 640, height = 440;
};

std::string svg_plot(const std::vector<PlotSeries>& series, const PlotOptions& options);

}  // namespace paramkit
