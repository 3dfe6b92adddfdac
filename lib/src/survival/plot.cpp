#include "paramkit/survival/plot.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

namespace paramkit::survival {
namespace {
std::string escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else o += c;
  }
  return o;
}
// A "nice" axis step for a range.
double nice_step(double range) {
  const double raw = range / 6, mag = std::pow(10, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (raw <= m * mag) return m * mag;
  return 10 * mag;
}
}  // namespace

std::string survival_svg(const std::vector<Curve>& curves, const std::string& title, const std::string& x_label) {
  static const char* palette[] = {"#4e79a7", "#e15759", "#59a14f", "#f28e2b", "#b07aa1", "#76b7b2", "#edc948", "#9c755f"};
  const double W = 640, H = 420, left = 60, right = 170, top = 40, bottom = 50;
  const double pw = W - left - right, ph = H - top - bottom;
  double tmax = 0;
  for (const auto& c : curves)
    for (double t : c.t)
      if (std::isfinite(t)) tmax = std::max(tmax, t);
  if (tmax <= 0) tmax = 1;
  const double xs = nice_step(tmax);
  tmax = std::ceil(tmax / xs) * xs;
  auto X = [&](double t) { return left + pw * t / tmax; };
  auto Y = [&](double s) { return top + ph * (1 - s); };
  std::string o = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"11\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"22\" font-size=\"13\">{}</text>\n",
      W, H, left, escape(title));
  for (double s = 0; s <= 1.0001; s += 0.2)
    o += fmt::format("<line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#e5e5e5\"/><text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{:.1f}</text>\n",
                     left, left + pw, Y(s), Y(s), left - 5, Y(s) + 4, s);
  for (double t = 0; t <= tmax + 1e-9; t += xs)
    o += fmt::format("<line x1=\"{:.1f}\" x2=\"{:.1f}\" y1=\"{}\" y2=\"{}\" stroke=\"#e5e5e5\"/><text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{:g}</text>\n",
                     X(t), X(t), top, top + ph, X(t), top + ph + 15, t);
  o += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#444\"/>\n", left, top, pw, ph);
  o += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", left + pw / 2, H - 12, escape(x_label));
  o += fmt::format("<text x=\"14\" y=\"{}\" transform=\"rotate(-90 14 {})\" text-anchor=\"middle\">survival</text>\n", top + ph / 2, top + ph / 2);
  int legend_row = 0;
  for (const auto& c : curves) {
    std::string pts;
    double prev_s = NAN;
    for (size_t i = 0; i < c.t.size(); ++i) {
      if (!std::isfinite(c.s[i]) || !std::isfinite(c.t[i])) continue;
      if (c.step && !std::isnan(prev_s)) pts += fmt::format("{:.1f},{:.1f} ", X(c.t[i]), Y(prev_s));
      pts += fmt::format("{:.1f},{:.1f} ", X(c.t[i]), Y(c.s[i]));
      prev_s = c.s[i];
    }
    const char* col = palette[c.color % 8];
    o += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"{}\"{} points=\"{}\"/>\n", col, c.dashed ? 1 : 1.8,
                     c.dashed ? " stroke-dasharray=\"2 2\"" : (c.step ? "" : " stroke-dasharray=\"6 2\""), pts);
    if (c.legend) {
      const double ly = top + 10 + 16 * legend_row++;
      o += fmt::format("<line x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"2\"{}/><text x=\"{}\" y=\"{}\">{}</text>\n",
                       left + pw + 10, left + pw + 30, ly, ly, col, c.step ? "" : " stroke-dasharray=\"6 2\"", left + pw + 35, ly + 4,
                       escape(c.label));
    }
  }
  return o + "</svg>\n";
}

}  // namespace paramkit::survival
