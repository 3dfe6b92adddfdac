// mmsb-fit plot: a fit's stitched trajectories over the snapshots, the fitted reference's vector field,
// and held-out W2 (and the parameter error) per round, as SVG.
#include <fmt/format.h>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/io/csv.h"
#include "paramkit/io/json.h"
#include "paramkit/io/svg_plot.h"
#include "paramkit/sb/snapshots.h"

using namespace paramkit;

namespace {
struct PlotCommand : cli::Command {
  PlotCommand()
      : Command("plot", "Draw a fit's trajectories, vector field and W2 per round (SVG)",
                "mmsb-fit plot tests/data/mmsb/lv-fit --data tests/data/mmsb/lv.csv --trajectories /tmp/lv-paths.svg --field /tmp/lv-field.svg "
                "--rounds /tmp/lv-rounds.svg") {}
  void add_options(CLI::App& app) override {
    app.add_option("fit", fit_dir, "A fit's output folder")->required()->check(CLI::ExistingDirectory);
    app.add_option("--data", data, "Snapshots to draw under the trajectories")->check(CLI::ExistingFile);
    app.add_option("--trajectories", paths_svg, "Trajectories (first two coordinates) over the snapshots");
    app.add_option("--field", field_svg, "The fitted reference drift as arrows");
    app.add_option("--rounds", rounds_svg, "Held-out W2 per round (and the parameter error when the truth is known)");
    app.add_option("--compare", compare, "Other fit folders whose held-out W2 per round joins the --rounds plot (e.g. the Brownian baseline)")
        ->check(CLI::ExistingDirectory);
  }
  nlohmann::json execute(cli::Context&) override {
    if (paths_svg.empty() && field_svg.empty() && rounds_svg.empty()) throw UsageError("plot: give at least one of --trajectories, --field, --rounds");
    const std::filesystem::path dir(fit_dir);
    const nlohmann::json rep = read_json(dir / "report.json");
    if (!paths_svg.empty()) {
      std::vector<PlotSeries> s;
      if (!data.empty()) {
        const sb::Snapshots snap = sb::load_snapshots(data);
        for (size_t k = 0; k < snap.times.size(); ++k) {
          PlotSeries p;
          p.label = fmt::format("t = {}", snap.times[k]);
          p.line = false;
          p.points = true;
          const torch::Tensor x = snap.x[k].narrow(0, 0, std::min<int64_t>(300, snap.x[k].size(0)));
          for (int64_t i = 0; i < x.size(0); ++i) {
            p.x.push_back(x[i][0].item<double>());
            p.y.push_back(x.size(1) > 1 ? x[i][1].item<double>() : 0.0);
          }
          s.push_back(p);
        }
      }
      const Table t = read_csv(dir / "trajectories.csv");
      const Column &id = t.numeric("particle"), &x1 = t.numeric("x1");
      const bool two = t.has("x2");
      PlotSeries cur;
      for (size_t r = 0; r < t.rows; ++r) {
        if (r > 0 && id.values[r] != id.values[r - 1]) {
          s.push_back(cur);
          cur = PlotSeries();
        }
        cur.label = "trajectory";
        cur.legend = false;
        cur.color = 7;
        cur.line_width = 0.6;
        cur.x.push_back(x1.values[r]);
        cur.y.push_back(two ? t.numeric("x2").values[r] : t.numeric("t").values[r]);
      }
      if (!cur.x.empty()) s.push_back(cur);
      PlotOptions o;
      o.title = fmt::format("stitched trajectories ({} reference)", rep.value("reference", std::string("?")));
      o.x_label = "x1";
      o.y_label = two ? "x2" : "t";
      write_file_atomic(paths_svg, svg_plot(s, o));
    }
    if (!field_svg.empty()) {
      const Table t = read_csv(dir / "field.csv");
      if (!t.has("x2")) throw InputError((dir / "field.csv").string(), "x2", "a vector field plot needs two coordinates");
      const Column &x = t.numeric("x1"), &y = t.numeric("x2"), &fx = t.numeric("f1"), &fy = t.numeric("f2");
      double span = 0, fmax = 1e-300;
      for (size_t r = 0; r < t.rows; ++r) fmax = std::max(fmax, std::hypot(fx.values[r], fy.values[r]));
      span = std::max(x.values.back() - x.values.front(), 1e-12) / 20.0;
      std::vector<PlotSeries> s;
      for (size_t r = 0; r < t.rows; ++r) {
        PlotSeries a;
        a.legend = false;
        a.color = 0;
        const double k = span / fmax;
        a.x = {x.values[r], x.values[r] + k * fx.values[r]};
        a.y = {y.values[r], y.values[r] + k * fy.values[r]};
        s.push_back(a);
        PlotSeries tail;
        tail.legend = false;
        tail.line = false;
        tail.points = true;
        tail.color = 0;
        tail.x = {x.values[r]};
        tail.y = {y.values[r]};
        s.push_back(tail);
      }
      PlotOptions o;
      o.title = fmt::format("fitted {} drift (arrows from the dots, scaled)", rep.value("reference", std::string("?")));
      o.x_label = "x1";
      o.y_label = "x2";
      write_file_atomic(field_svg, svg_plot(s, o));
    }
    if (!rounds_svg.empty()) {
      std::vector<PlotSeries> s;
      auto add = [&](const nlohmann::json& r, const std::string& label, int color) {
        PlotSeries p;
        p.label = label;
        p.points = true;
        p.color = color;
        for (const auto& rec : r.at("rounds"))
          if (rec.at("mean_w2").is_number()) {
            p.x.push_back(rec.at("round").get<double>());
            p.y.push_back(rec.at("mean_w2").get<double>());
          }
        s.push_back(p);
      };
      add(rep, fmt::format("held-out W2, {} reference", rep.value("reference", std::string("?"))), 0);
      int color = 1;
      for (const auto& c : compare) {
        const nlohmann::json other = read_json(std::filesystem::path(c) / "report.json");
        PlotSeries p;
        p.label = fmt::format("held-out W2, {} reference", other.value("reference", std::string("?")));
        p.color = color++;
        p.dash = Dash::dashed;
        const auto& rr = other.at("rounds");
        if (!rr.empty() && rr.back().at("mean_w2").is_number()) {
          p.x = {1.0, static_cast<double>(std::max<size_t>(rep.at("rounds").size(), 2))};
          p.y = {rr.back().at("mean_w2").get<double>(), rr.back().at("mean_w2").get<double>()};
        }
        s.push_back(p);
      }
      PlotOptions o;
      o.title = "held-out W2 per refinement round";
      o.x_label = "round";
      o.y_label = "W2";
      write_file_atomic(rounds_svg, svg_plot(s, o));
    }
    return {{"fit", fit_dir}, {"trajectories", paths_svg}, {"field", field_svg}, {"rounds", rounds_svg}};
  }
  std::string fit_dir, data, paths_svg, field_svg, rounds_svg;
  std::vector<std::string> compare;
};
}  // namespace

void add_plot(cli::Tool& tool) { tool.add<PlotCommand>(); }
