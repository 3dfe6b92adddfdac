#include "paramkit/survival/plot.h"

#include <utility>

#include "paramkit/io/svg_plot.h"

namespace paramkit::survival {

// An adapter onto the shared plotter: Kaplan-Meier steps solid, confidence limits thin and dotted,
// fitted curves dashed; survival on a fixed 0..1 axis from time 0.
std::string survival_svg(const std::vector<Curve>& curves, const std::string& title, const std::string& x_label) {
  std::vector<PlotSeries> series;
  for (const auto& c : curves) {
    PlotSeries s;
    s.label = c.label;
    s.x = c.t;
    s.y = c.s;
    s.step = c.step;
    s.dash = c.dashed ? Dash::dotted : c.step ? Dash::solid : Dash::dashed;
    s.line_width = c.dashed ? 1.0 : 1.8;
    s.color = c.color;
    s.legend = c.legend;
    series.push_back(std::move(s));
  }
  PlotOptions o;
  o.title = title;
  o.x_label = x_label;
  o.y_label = "survival";
  o.x_min = 0;
  o.y_min = 0;
  o.y_max = 1;
  o.height = 420;
  return svg_plot(series, o);
}

}  // namespace paramkit::survival
