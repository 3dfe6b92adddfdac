#include "paramkit/io/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace paramkit {
namespace {
std::string fmt(const char* f, double a) {
  char b[64];
  std::snprintf(b, sizeof b, f, a);
  return b;
}
std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) o += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : std::string(1, c);
  return o;
}
}  // namespace

std::string svg_plot(const std::vector<PlotSeries>& series, const PlotOptions& o) {
  static const char* palette[] = {"#4e79a7", "#e15759", "#59a14f", "#f28e2b", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#bab0ac", "#ff9da7"};
  const double left = 70, right = 170, top = 36, bottom = 48;
  const double pw = o.width - left - right, ph = o.height - top - bottom;
  auto tx = [&](double v) { return o.log_x ? std::log10(v) : v; };
  auto ty = [&](double v) { return o.log_y ? std::log10(v) : v; };
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const auto& s : series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      const double a = tx(s.x[i]), b = ty(s.y[i]);
      if (!std::isfinite(a) || !std::isfinite(b)) continue;
      x0 = std::min(x0, a), x1 = std::max(x1, a), y0 = std::min(y0, b), y1 = std::max(y1, b);
    }
  if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (x1 == x0) x0 -= 0.5, x1 += 0.5;
  if (y1 == y0) y0 -= 0.5, y1 += 0.5;
  const double padx = 0.04 * (x1 - x0), pady = 0.04 * (y1 - y0);
  x0 -= padx, x1 += padx, y0 -= pady, y1 += pady;
  if (o.equal_aspect) {
    const double sx = (x1 - x0) / pw, sy = (y1 - y0) / ph, s = std::max(sx, sy);
    const double cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
    x0 = cx - s * pw / 2, x1 = cx + s * pw / 2, y0 = cy - s * ph / 2, y1 = cy + s * ph / 2;
  }
  auto X = [&](double v) { return left + pw * (tx(v) - x0) / (x1 - x0); };
  auto Y = [&](double v) { return top + ph * (1 - (ty(v) - y0) / (y1 - y0)); };
  std::string out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(o.width) + "\" height=\"" +
                    std::to_string(o.height) + "\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  out += "<text x=\"" + fmt("%.0f", left) + "\" y=\"20\" font-size=\"13\">" + esc(o.title) + "</text>\n";
  // Ticks: decades on log axes, ~6 steps on linear ones.
  auto ticks = [](double a, double b, bool log) {
    std::vector<double> t;
    if (log) {
      for (double d = std::ceil(a); d <= b; d += std::max(1.0, std::floor((b - a) / 6))) t.push_back(d);
      return t;
    }
    const double raw = (b - a) / 6, mag = std::pow(10, std::floor(std::log10(raw)));
    double step = mag;
    for (double m : {1.0, 2.0, 5.0, 10.0})
      if (raw <= m * mag) {
        step = m * mag;
        break;
      }
    for (double v = std::ceil(a / step) * step; v <= b; v += step) t.push_back(std::fabs(v) < 1e-12 * step ? 0 : v);
    return t;
  };
  for (double v : ticks(x0, x1, o.log_x)) {
    const double px = left + pw * (v - x0) / (x1 - x0);
    out += "<line x1=\"" + fmt("%.1f", px) + "\" x2=\"" + fmt("%.1f", px) + "\" y1=\"" + fmt("%.0f", top) + "\" y2=\"" + fmt("%.0f", top + ph) +
           "\" stroke=\"#e5e5e5\"/><text x=\"" + fmt("%.1f", px) + "\" y=\"" + fmt("%.0f", top + ph + 15) + "\" text-anchor=\"middle\">" +
           (o.log_x ? "1e" + fmt("%.0f", v) : fmt("%g", v)) + "</text>\n";
  }
  for (double v : ticks(y0, y1, o.log_y)) {
    const double py = top + ph * (1 - (v - y0) / (y1 - y0));
    out += "<line x1=\"" + fmt("%.0f", left) + "\" x2=\"" + fmt("%.0f", left + pw) + "\" y1=\"" + fmt("%.1f", py) + "\" y2=\"" + fmt("%.1f", py) +
           "\" stroke=\"#e5e5e5\"/><text x=\"" + fmt("%.0f", left - 5) + "\" y=\"" + fmt("%.1f", py + 4) + "\" text-anchor=\"end\">" +
           (o.log_y ? "1e" + fmt("%.0f", v) : fmt("%g", v)) + "</text>\n";
  }
  out += "<rect x=\"" + fmt("%.0f", left) + "\" y=\"" + fmt("%.0f", top) + "\" width=\"" + fmt("%.0f", pw) + "\" height=\"" + fmt("%.0f", ph) +
         "\" fill=\"none\" stroke=\"#444\"/>\n";
  out += "<text x=\"" + fmt("%.0f", left + pw / 2) + "\" y=\"" + std::to_string(o.height - 10) + "\" text-anchor=\"middle\">" + esc(o.x_label) + "</text>\n";
  out += "<text x=\"14\" y=\"" + fmt("%.0f", top + ph / 2) + "\" transform=\"rotate(-90 14 " + fmt("%.0f", top + ph / 2) +
         ")\" text-anchor=\"middle\">" + esc(o.y_label) + "</text>\n";
  for (size_t k = 0; k < series.size(); ++k) {
    const auto& s = series[k];
    const char* col = palette[(s.color >= 0 ? s.color : static_cast<int>(k)) % 10];
    std::string pts;
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(tx(s.x[i])) || !std::isfinite(ty(s.y[i]))) continue;
      pts += fmt("%.1f", X(s.x[i])) + "," + fmt("%.1f", Y(s.y[i])) + " ";
      if (s.points)
        out += "<circle cx=\"" + fmt("%.1f", X(s.x[i])) + "\" cy=\"" + fmt("%.1f", Y(s.y[i])) + "\" r=\"3.5\" fill=\"" + col + "\"/>\n";
    }
    if (s.line) out += std::string("<polyline fill=\"none\" stroke=\"") + col + "\" stroke-width=\"1.4\" points=\"" + pts + "\"/>\n";
    const double ly = top + 10 + 16 * static_cast<double>(k);
    out += "<rect x=\"" + fmt("%.0f", left + pw + 10) + "\" y=\"" + fmt("%.0f", ly - 5) + "\" width=\"14\" height=\"8\" fill=\"" + col +
           "\"/><text x=\"" + fmt("%.0f", left + pw + 30) + "\" y=\"" + fmt("%.0f", ly + 3) + "\">" + esc(s.label) + "</text>\n";
  }
  return out + "</svg>\n";
}

}  // namespace paramkit
