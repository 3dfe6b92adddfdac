#include "paramkit/io/svg_plot.h"

#include <algorithm>
#include <fmt/format.h>
#include <utility>

#include "paramkit/core/error.h"

namespace paramkit {
namespace {
// fmt, not printf: numbers print the same whatever the locale, so the SVG text is deterministic.
constexpr const char* kPalette[] = {"#4e79a7", "#e15759", "#59a14f", "#f28e2b", "#b07aa1",
                                    "#76b7b2", "#edc948", "#9c755f", "#bab0ac", "#ff9da7"};
constexpr int kPaletteSize = sizeof kPalette / sizeof kPalette[0];

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}

// Rough text width at font-size 11, for margins and legend layout (no font metrics available).
double text_width(const std::string& s, double font_size = 11) { return 0.58 * font_size * static_cast<double>(s.size()); }

const char* dash_attr(Dash d) {
  switch (d) {
    case Dash::dashed: return " stroke-dasharray=\"6 2\"";
    case Dash::dotted: return " stroke-dasharray=\"2 2\"";
    default: return "";
  }
}

// A 1-2-5 step giving about six ticks over `span`.
double nice_step(double span) {
  const double raw = span / 6, mag = std::pow(10, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0})
    if (raw <= m * mag) return m * mag;
  return 10 * mag;
}

using Ticks = std::vector<std::pair<double, std::string>>;  // position (axis units), label

Ticks linear_ticks(double a, double b) {
  Ticks t;
  const double step = nice_step(b - a);
  for (double k = std::ceil(a / step - 1e-9); k * step <= b + 1e-9 * step; ++k) {
    const double v = std::fabs(k) < 0.5 ? 0.0 : k * step;
    t.push_back({v, fmt::format("{:g}", v)});
  }
  return t;
}

// a, b in log10 units. Decades when the range holds at least three; else 1-2-5 (or 1..9) within decades.
Ticks log_ticks(double a, double b) {
  Ticks t;
  if (std::floor(b) - std::ceil(a) >= 2) {
    const double step = std::max(1.0, std::floor((b - a) / 6));
    for (double d = std::ceil(a); d <= b; d += step) t.push_back({d, fmt::format("1e{:g}", d)});
    return t;
  }
  for (const auto& mantissas : {std::vector<double>{1, 2, 5}, std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, 9}}) {
    t.clear();
    for (double d = std::floor(a); d <= std::ceil(b); ++d)
      for (double m : mantissas) {
        const double p = std::log10(m * std::pow(10.0, d));
        if (p < a - 1e-12 || p > b + 1e-12) continue;
        // Plain numbers near 1, else "2e-7" (not printf's "2e-07").
        t.push_back({p, d >= -3 && d <= 4 ? fmt::format("{:g}", m * std::pow(10.0, d)) : fmt::format("{:g}e{:g}", m, d)});
      }
    if (t.size() >= 3) break;
  }
  return t;
}

// One axis's visible range in axis units (log10 on a log axis): fixed ends as given, the others from
// the data with a 4% margin.
struct Range {
  double lo, hi;
};
Range axis_range(double data_lo, double data_hi, double fixed_lo, double fixed_hi) {
  const bool has_lo = std::isfinite(fixed_lo), has_hi = std::isfinite(fixed_hi);
  if (!std::isfinite(data_lo)) data_lo = has_lo ? fixed_lo : 0, data_hi = has_hi ? fixed_hi : data_lo + 1;
  double lo = has_lo ? fixed_lo : data_lo, hi = has_hi ? fixed_hi : data_hi;
  if (hi <= lo) {  // one point, or data beyond a fixed end: show a unit range rather than divide by zero
    if (!has_lo && !has_hi) lo -= 0.5, hi += 0.5;
    else if (!has_lo) lo = hi - 1;
    else hi = lo + 1;
  }
  const double pad = 0.04 * (hi - lo);
  return {has_lo ? lo : lo - pad, has_hi ? hi : hi + pad};
}
}  // namespace

const char* palette_color(int index) { return kPalette[((index % kPaletteSize) + kPaletteSize) % kPaletteSize]; }

std::string svg_plot(const std::vector<PlotSeries>& series, const PlotOptions& o) {
  auto tx = [&](double v) { return o.log_x ? std::log10(v) : v; };
  auto ty = [&](double v) { return o.log_y ? std::log10(v) : v; };
  auto fixed = [](double v, bool log) { return log ? (v > 0 ? std::log10(v) : NAN) : v; };

  size_t legend_rows = 0;
  double legend_text = 0;
  for (const auto& s : series)
    if (s.legend && !s.label.empty()) ++legend_rows, legend_text = std::max(legend_text, text_width(s.label));
  const double left = 70, top = 36, bottom = 48;
  const double right = legend_rows ? std::clamp(50 + legend_text, 110.0, o.width / 2.0) : 20;
  const double pw = o.width - left - right, ph = o.height - top - bottom;

  double dx0 = INFINITY, dx1 = -INFINITY, dy0 = INFINITY, dy1 = -INFINITY;
  for (const auto& s : series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      const double a = tx(s.x[i]), b = ty(s.y[i]);
      if (!std::isfinite(a) || !std::isfinite(b)) continue;
      dx0 = std::min(dx0, a), dx1 = std::max(dx1, a), dy0 = std::min(dy0, b), dy1 = std::max(dy1, b);
      if (i < s.y_err.size() && std::isfinite(s.y_err[i])) {
        const double lo = ty(s.y[i] - s.y_err[i]), hi = ty(s.y[i] + s.y_err[i]);
        if (std::isfinite(lo)) dy0 = std::min(dy0, lo);
        if (std::isfinite(hi)) dy1 = std::max(dy1, hi);
      }
    }
  auto [x0, x1] = axis_range(dx0, dx1, fixed(o.x_min, o.log_x), fixed(o.x_max, o.log_x));
  auto [y0, y1] = axis_range(dy0, dy1, fixed(o.y_min, o.log_y), fixed(o.y_max, o.log_y));
  if (o.equal_aspect) {
    const double sx = (x1 - x0) / pw, sy = (y1 - y0) / ph, s = std::max(sx, sy);
    const double cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
    x0 = cx - s * pw / 2, x1 = cx + s * pw / 2, y0 = cy - s * ph / 2, y1 = cy + s * ph / 2;
  }
  // Positions from axis units, and from data.
  auto PX = [&](double u) { return left + pw * (u - x0) / (x1 - x0); };
  auto PY = [&](double u) { return top + ph * (1 - (u - y0) / (y1 - y0)); };

  std::string out = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"11\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"20\" font-size=\"13\">{}</text>\n",
      o.width, o.height, left, esc(o.title));
  for (const auto& [v, label] : o.log_x ? log_ticks(x0, x1) : linear_ticks(x0, x1))
    out += fmt::format(
        "<line x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1}\" y2=\"{2}\" stroke=\"#e5e5e5\"/>"
        "<text x=\"{0:.1f}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>\n",
        PX(v), top, top + ph, top + ph + 15, label);
  for (const auto& [v, label] : o.log_y ? log_ticks(y0, y1) : linear_ticks(y0, y1))
    out += fmt::format(
        "<line x1=\"{0}\" x2=\"{1}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" stroke=\"#e5e5e5\"/>"
        "<text x=\"{3}\" y=\"{4:.1f}\" text-anchor=\"end\">{5}</text>\n",
        left, left + pw, PY(v), left - 5, PY(v) + 4, label);
  out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#444\"/>\n", left, top, pw, ph);
  out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", left + pw / 2, o.height - 10, esc(o.x_label));
  out += fmt::format("<text x=\"14\" y=\"{0}\" transform=\"rotate(-90 14 {0})\" text-anchor=\"middle\">{1}</text>\n", top + ph / 2,
                     esc(o.y_label));

  // Curves are clipped to the plot area (fixed ranges may cut data); the margin keeps strokes and
  // points that lie on the frame whole.
  out += fmt::format("<clipPath id=\"plot-area\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/></clipPath>\n<g clip-path=\"url(#plot-area)\">\n",
                     left - 4, top - 4, pw + 8, ph + 8);
  for (size_t k = 0; k < series.size(); ++k) {
    const auto& s = series[k];
    const char* col = palette_color(s.color >= 0 ? s.color : static_cast<int>(k));
    std::string pts, dots;
    bool have_prev = false;
    double prev_py = 0;
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      const double a = tx(s.x[i]), b = ty(s.y[i]);
      if (!std::isfinite(a) || !std::isfinite(b)) continue;
      const double px = PX(a), py = PY(b);
      // Right-continuous: the previous value holds up to this x, then the curve drops to this one.
      if (s.step && have_prev) pts += fmt::format("{:.1f},{:.1f} ", px, prev_py);
      pts += fmt::format("{:.1f},{:.1f} ", px, py);
      if (s.points) dots += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3.5\" fill=\"{}\"/>\n", px, py, col);
      if (i < s.y_err.size() && std::isfinite(s.y_err[i]) && s.y_err[i] > 0) {
        const double lo = ty(s.y[i] - s.y_err[i]), hi = ty(s.y[i] + s.y_err[i]);
        const double plo = std::isfinite(lo) ? PY(lo) : top + ph, phi = std::isfinite(hi) ? PY(hi) : top;
        dots += fmt::format("<path d=\"M{0:.1f},{1:.1f}V{2:.1f}M{3:.1f},{1:.1f}H{4:.1f}M{3:.1f},{2:.1f}H{4:.1f}\" stroke=\"{5}\" fill=\"none\"/>\n",
                            px, plo, phi, px - 3, px + 3, col);
      }
      have_prev = true, prev_py = py;
    }
    if (s.line && !pts.empty()) {
      pts.pop_back();
      out += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"{:g}\"{} points=\"{}\"/>\n", col, s.line_width,
                         dash_attr(s.dash), pts);
    }
    out += dots;
  }
  out += "</g>\n";

  // Legend: a sample of each series' line (dash and width) and marker.
  double ly = top + 10;
  for (size_t k = 0; k < series.size(); ++k) {
    const auto& s = series[k];
    if (!s.legend || s.label.empty()) continue;
    const char* col = palette_color(s.color >= 0 ? s.color : static_cast<int>(k));
    const double lx = left + pw + 10;
    if (s.line)
      out += fmt::format("<line x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"{:g}\"{}/>", lx, lx + 20, ly, ly, col,
                         std::max(s.line_width, 1.5), dash_attr(s.dash));
    if (s.points) out += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"3.5\" fill=\"{}\"/>", lx + 10, ly, col);
    out += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", lx + 26, ly + 4, esc(s.label));
    ly += 16;
  }
  return out + "</svg>\n";
}

void BarChart::validate() const {
  if (values.size() != groups.size()) throw Error(fmt::format("bar chart: {} rows of values for {} groups", values.size(), groups.size()));
  for (size_t g = 0; g < values.size(); ++g)
    if (values[g].size() != series.size())
      throw Error(fmt::format("bar chart: group '{}' has {} values for {} series", groups[g], values[g].size(), series.size()));
  if (!colors.empty() && colors.size() != series.size())
    throw Error(fmt::format("bar chart: {} colours for {} series", colors.size(), series.size()));
  if (bar_width < 1 || group_gap < 0 || plot_height < 10) throw Error("bar chart: bar_width, group_gap or plot_height out of range");
  if (std::isfinite(y_max) && !(y_max > y_min)) throw Error("bar chart: y_max must be above y_min");
}

std::string svg_bar_chart(const BarChart& c) {
  c.validate();
  const double left = c.y_label.empty() ? 50 : 62, top = 30, h = c.plot_height, bw = c.bar_width;
  const double gw = static_cast<double>(c.series.size()) * bw + c.group_gap;
  auto col = [&](size_t s) { return palette_color(c.colors.empty() ? static_cast<int>(s) : c.colors[s]); };

  double vmax = -INFINITY;
  for (const auto& row : c.values)
    for (double v : row)
      if (std::isfinite(v)) vmax = std::max(vmax, v);
  const double y0 = c.y_min;
  double y1 = c.y_max;
  if (!std::isfinite(y1)) {
    y1 = std::isfinite(vmax) && vmax > y0 ? vmax : y0 + 1;
    const double step = nice_step(y1 - y0);
    y1 = y0 + std::ceil((y1 - y0) / step - 1e-9) * step;
  }
  auto Y = [&](double v) { return top + h * (1 - (std::clamp(v, y0, y1) - y0) / (y1 - y0)); };

  // Width: the bars, but at least the title; the legend wraps to that width.
  const double width = std::ceil(std::max(left + static_cast<double>(c.groups.size()) * gw + 20, left + text_width(c.title, 13) + 20));
  std::vector<std::pair<double, int>> legend;  // x, row
  double lx = left;
  int rows = c.series.empty() ? 0 : 1;
  for (const auto& name : c.series) {
    const double w = 14 + text_width(name) + 16;
    if (lx > left && lx + w > width) lx = left, ++rows;
    legend.push_back({lx, rows - 1});
    lx += w;
  }
  // Group names alternate between two lines when one is wider than its group.
  bool stagger = false;
  for (const auto& g : c.groups) stagger = stagger || text_width(g) > gw - 4;
  const double legend_top = top + h + (stagger ? 44 : 30);
  const double height = std::ceil(legend_top + 16 * rows + 6);

  std::string out = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"11\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"18\" font-size=\"13\">{}</text>\n",
      width, height, left, esc(c.title));
  for (const auto& [v, label] : linear_ticks(y0, y1))
    out += fmt::format(
        "<line x1=\"{0}\" x2=\"{1}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" stroke=\"#dddddd\"/>"
        "<text x=\"{3}\" y=\"{4:.1f}\" text-anchor=\"end\">{5}</text>\n",
        left, width - 20, Y(v), left - 4, Y(v) + 4, label);
  if (!c.y_label.empty())
    out += fmt::format("<text x=\"14\" y=\"{0}\" transform=\"rotate(-90 14 {0})\" text-anchor=\"middle\">{1}</text>\n", top + h / 2,
                       esc(c.y_label));
  const double base = Y(std::clamp(0.0, y0, y1));
  for (size_t g = 0; g < c.groups.size(); ++g) {
    const double x0 = left + static_cast<double>(g) * gw + c.group_gap / 2.0;
    for (size_t s = 0; s < c.series.size(); ++s) {
      const double v = c.values[g][s];
      if (!std::isfinite(v)) continue;
      const double yv = Y(v);
      out += fmt::format(
          "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:g}\" height=\"{:.1f}\" fill=\"{}\"><title>{} {} {:g}</title></rect>\n",
          x0 + static_cast<double>(s) * bw, std::min(yv, base), bw - 1, std::fabs(base - yv), col(s), esc(c.groups[g]), esc(c.series[s]), v);
    }
    out += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", x0 + static_cast<double>(c.series.size()) * bw / 2,
                       top + h + 14 + (stagger && g % 2 == 1 ? 14 : 0), esc(c.groups[g]));
  }
  for (size_t s = 0; s < c.series.size(); ++s) {
    const double y = legend_top + 16 * legend[s].second;
    out += fmt::format("<rect x=\"{0}\" y=\"{1}\" width=\"10\" height=\"10\" fill=\"{2}\"/><text x=\"{3}\" y=\"{4}\">{5}</text>\n",
                       legend[s].first, y, col(s), legend[s].first + 14, y + 9, esc(c.series[s]));
  }
  return out + "</svg>\n";
}

}  // namespace paramkit
