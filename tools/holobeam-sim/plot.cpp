// holobeam-sim plot: from a sweep, the error probability against the budget per algorithm on a log
// axis (Wilson intervals as bars) and the mean RSS against the budget, for one array size and noise
// level; the slope of ln P(error) in the budget per algorithm (least squares over the points with
// 0 < errors < trials) in the summary.
#include <fmt/format.h>

#include <cmath>
#include <map>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/io/json.h"
#include "paramkit/io/svg_plot.h"

using namespace paramkit;

namespace {
struct PlotCommand : cli::Command {
  PlotCommand()
      : Command("plot", "Error probability (log) and RSS against the budget per algorithm, with the decay slopes",
                "holobeam-sim plot tests/data/holobeam/sweep.json --error /tmp/perr.svg --rss /tmp/rss.svg -o /tmp/slopes.json") {}
  void add_options(CLI::App& app) override {
    app.add_option("sweep", sweep, "A sweep report (holobeam-sim sweep -o)")->required()->check(CLI::ExistingFile);
    app.add_option("--size", size, "The array size to draw, N1xN2 (default: the sweep's first)");
    app.add_option("--sigma", sigma, "The noise level to draw (default: the sweep's first)")->check(CLI::Range(0.0, 1e6));
    app.add_option("--error", error_svg, "Error probability against the budget (SVG, log y)");
    app.add_option("--rss", rss_svg, "Mean normalised RSS against the budget (SVG)");
    cli::add_output(app, out, "Summary: points and slopes (JSON)", false);
  }
  nlohmann::json execute(cli::Context&) override {
    if (error_svg.empty() && rss_svg.empty() && out.empty()) throw UsageError("plot: give --error, --rss or -o");
    const nlohmann::json j = read_json(sweep);
    if (!j.contains("rows") || !j["rows"].is_array() || j["rows"].empty()) throw InputError(sweep, "rows", "no rows: not a holobeam-sim sweep report");
    const auto& first = j["rows"][0];
    std::string want = size.empty() ? fmt::format("{}x{}", first.value("n1", 0), first.value("n2", 0)) : size;
    if (want.find('x') == std::string::npos) want += "x" + want;
    const double s = sigma >= 0 ? sigma : first.value("sigma", 0.0);
    std::map<std::string, std::vector<nlohmann::json>> by;
    for (const auto& r : j["rows"]) {
      try {
        if (fmt::format("{}x{}", r.at("n1").get<int64_t>(), r.at("n2").get<int64_t>()) == want && std::abs(r.at("sigma").get<double>() - s) < 1e-12)
          by[r.at("algorithm").get<std::string>()].push_back(r);
      } catch (const nlohmann::json::exception&) {
        throw InputError(sweep, "rows", "a row lacks n1, n2, sigma or algorithm");
      }
    }
    if (by.empty()) throw UsageError(fmt::format("plot: no rows for size {} and sigma {} in {}", want, s, sweep));
    std::vector<PlotSeries> perr, rss;
    nlohmann::json slopes = nlohmann::json::object();
    int color = 0;
    for (auto& [alg, rows] : by) {
      std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a["budget"].template get<double>() < b["budget"].template get<double>(); });
      PlotSeries e, g;
      e.label = g.label = alg;
      e.points = g.points = true;
      e.color = g.color = color++;
      double sx = 0, sy = 0, sxx = 0, sxy = 0;
      int m = 0;
      for (const auto& r : rows) {
        const double b = r["budget"].get<double>(), p = r["p_error"].get<double>();
        const int64_t errors = r["errors"].get<int64_t>(), trials = r["trials"].get<int64_t>();
        e.x.push_back(b);
        e.y.push_back(p > 0 ? p : NAN);
        g.x.push_back(b);
        g.y.push_back(r["mean_gain"].get<double>());
        if (errors > 0 && errors < trials) {
          sx += b, sy += std::log(p), sxx += b * b, sxy += b * std::log(p);
          ++m;
        }
      }
      const double den = m * sxx - sx * sx;
      slopes[alg] = m >= 2 && den > 0 ? nlohmann::json((m * sxy - sx * sy) / den * 1000.0) : nlohmann::json(nullptr);
      perr.push_back(e);
      rss.push_back(g);
    }
    PlotOptions o;
    o.x_label = "budget (pilots)";
    if (!error_svg.empty()) {
      o.title = fmt::format("error probability, {} HMT, sigma {}", want, s);
      o.y_label = "P(wrong beam)";
      o.log_y = true;
      write_file_atomic(error_svg, svg_plot(perr, o));
    }
    if (!rss_svg.empty()) {
      o.title = fmt::format("achieved RSS (peak 1), {} HMT, sigma {}", want, s);
      o.y_label = "mean normalised RSS";
      o.log_y = false;
      write_file_atomic(rss_svg, svg_plot(rss, o));
    }
    const nlohmann::json r = {{"sweep", sweep}, {"size", want}, {"sigma", s}, {"slope_ln_p_per_1000_pilots", slopes}};
    if (!out.empty()) write_report(out, r);
    return r;
  }
  std::string sweep, size, error_svg, rss_svg, out;
  double sigma = -1;
};
}  // namespace

void add_plot(cli::Tool& tool) { tool.add<PlotCommand>(); }
