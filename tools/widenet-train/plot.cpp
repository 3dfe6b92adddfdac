// widenet-train plot: train reports -> accuracy against trainable parameters per model variant (mean
// and sd over seeds), a table, and the router load per block of one MoE run.
#include <fmt/format.h>

#include <cmath>
#include <iostream>
#include <map>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/core/sample.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/io/json.h"
#include "paramkit/io/svg_plot.h"

using namespace paramkit;

namespace {
struct Group {
  std::string variant;
  int64_t depth = 0, width = 0, trainable = 0;
  Sample acc;
};

struct PlotResult {
  nlohmann::json summary;
};
void to_json(nlohmann::json& j, const PlotResult& r) { j = r.summary; }

struct PlotCommand : cli::TypedCommand<PlotResult> {
  PlotCommand()
      : TypedCommand("plot", "Accuracy against trainable parameters per model (mean and sd over seeds), a table, and the router load per block",
                     "widenet-train plot tests/data/widenet/run-vit.json tests/data/widenet/run-vit-moe.json tests/data/widenet/run-widenet.json -o /tmp/widenet-summary.json --accuracy /tmp/widenet-acc.svg --table") {}
  void add_options(CLI::App& app) override {
    app.add_option("reports", reports, "widenet-train train reports")->required();
    cli::add_output(app, out, "Summary (JSON): one row per variant, depth and width");
    cli::add_output_file(app, "--accuracy", accuracy_svg, "Test accuracy against trainable parameters (SVG)");
    cli::add_output_file(app, "--routing", routing_svg, "Router load per block and expert of the first MoE report (SVG)");
    cli::add_print(app, print, true, false);
  }
  PlotResult run(cli::Context&) override {
    std::map<std::tuple<std::string, int64_t, int64_t, int64_t>, Group> groups;
    nlohmann::json routing;
    std::string routing_source, routing_variant;
    for (const auto& p : reports) {
      const nlohmann::json j = read_json(p);
      if (!j.is_object()) throw InputError(p, "", "expected a widenet-train train report (a JSON object)");
      const auto& v = json_field(j, "variant", p);
      const auto& t = json_field(j, "trainable", p);
      const auto& a = json_field(j, "test_accuracy", p);
      const auto& m = json_field(j, "model", p);
      if (!v.is_string()) throw InputError(p, "variant", "expected a string");
      if (!t.is_number_integer() || t.get<int64_t>() < 1) throw InputError(p, "trainable", "expected a positive integer");
      if (!a.is_number() || !std::isfinite(a.get<double>()) || a.get<double>() < 0 || a.get<double>() > 1)
        throw InputError(p, "test_accuracy", "expected a number in [0, 1] (an unfinished run has null)");
      const nn::VitOptions o = nn::vit_options_from_json(m, p);
      Group& g = groups[{v.get<std::string>(), o.depth, o.width, t.get<int64_t>()}];
      g.variant = v.get<std::string>();
      g.depth = o.depth;
      g.width = o.width;
      g.trainable = t.get<int64_t>();
      g.acc.add(a.get<double>());
      if (routing_source.empty() && j.contains("routing") && j["routing"].is_object()) {
        routing = j["routing"];
        routing_source = p;
        routing_variant = g.variant;
      }
    }
    // ViT's trainable parameters at each (depth, width): the ratio column.
    std::map<std::pair<int64_t, int64_t>, int64_t> vit;
    for (const auto& [k, g] : groups)
      if (g.variant == "vit") vit[{g.depth, g.width}] = g.trainable;
    nlohmann::json rows = nlohmann::json::array();
    std::map<std::string, PlotSeries> series;
    for (const auto& [k, g] : groups) {
      auto it = vit.find({g.depth, g.width});
      const double ratio = it == vit.end() ? NAN : static_cast<double>(g.trainable) / static_cast<double>(it->second);
      rows.push_back({{"variant", g.variant}, {"depth", g.depth}, {"width", g.width}, {"trainable", g.trainable},
                      {"vs_vit", std::isfinite(ratio) ? nlohmann::json(ratio) : nlohmann::json(nullptr)}, {"mean", g.acc.mean()}, {"sd", g.acc.sd()},
                      {"runs", g.acc.size()}});
      PlotSeries& s = series[g.variant];
      s.label = g.variant;
      s.points = true;
      s.x.push_back(static_cast<double>(g.trainable));
      s.y.push_back(g.acc.mean());
      s.y_err.push_back(g.acc.sd());
    }
    std::string acc_svg, load_svg;
    if (!accuracy_svg.empty()) {
      std::vector<PlotSeries> ss;
      for (auto& [name, s] : series) {
        // points in parameter order
        std::vector<size_t> order(s.x.size());
        for (size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return s.x[a] < s.x[b]; });
        PlotSeries sorted = s;
        for (size_t i = 0; i < order.size(); ++i) sorted.x[i] = s.x[order[i]], sorted.y[i] = s.y[order[i]], sorted.y_err[i] = s.y_err[order[i]];
        ss.push_back(sorted);
      }
      PlotOptions o;
      o.title = "test accuracy against trainable parameters (mean and sd over seeds)";
      o.x_label = "trainable parameters";
      o.y_label = "test accuracy";
      o.log_x = true;
      acc_svg = svg_plot(ss, o);
    }
    if (!routing_svg.empty()) {
      if (routing_source.empty()) throw UsageError("--routing: none of the reports has MoE routing (vit-moe or widenet)");
      std::vector<PlotSeries> ss;
      try {
        const auto blocks = routing.at("blocks").get<std::vector<int64_t>>();
        const auto load = routing.at("load").get<std::vector<std::vector<double>>>();
        if (load.size() != blocks.size() || load.empty()) throw InputError(routing_source, "routing.load", "one row per block expected");
        for (size_t e = 0; e < load[0].size(); ++e) {
          PlotSeries s;
          s.label = fmt::format("expert {}", e);
          s.points = true;
          for (size_t b = 0; b < blocks.size(); ++b) {
            if (load[b].size() != load[0].size()) throw InputError(routing_source, "routing.load", "rows of different lengths");
            s.x.push_back(static_cast<double>(blocks[b] + 1));
            s.y.push_back(load[b][e]);
          }
          ss.push_back(s);
        }
        PlotSeries dropped;
        dropped.label = "dropped";
        dropped.dash = Dash::dashed;
        dropped.color = 8;
        const auto d = routing.at("dropped").get<std::vector<double>>();
        for (size_t b = 0; b < blocks.size() && b < d.size(); ++b) {
          dropped.x.push_back(static_cast<double>(blocks[b] + 1));
          dropped.y.push_back(d[b]);
        }
        ss.push_back(dropped);
      } catch (const nlohmann::json::exception&) {
        throw InputError(routing_source, "routing", "expected blocks, load and dropped arrays");
      }
      PlotOptions o;
      o.title = fmt::format("router load per block at evaluation: {} ({})", routing_variant, std::filesystem::path(routing_source).filename().string());
      o.x_label = "block";
      o.y_label = "fraction of the (token, choice) pairs";
      o.y_min = 0;
      load_svg = svg_plot(ss, o);
    }
    nlohmann::json summary = {{"rows", rows}};
    if (!routing_source.empty()) summary["routing_of"] = routing_source;
    check_stop();
    write_report(out, summary);
    if (!accuracy_svg.empty()) write_file_atomic(accuracy_svg, acc_svg);
    if (!routing_svg.empty()) write_file_atomic(routing_svg, load_svg);
    if (print.table) {
      std::cout << fmt::format("{:<22} {:>5} {:>5} {:>10} {:>6} {:>8} {:>8} {:>5}\n", "variant", "depth", "width", "trainable", "vs_vit", "mean",
                               "sd", "runs");
      for (const auto& r : rows)
        std::cout << fmt::format("{:<22} {:>5} {:>5} {:>10} {:>6} {:>8.4f} {:>8.4f} {:>5}\n", r["variant"].get<std::string>(),
                                 r["depth"].get<int64_t>(), r["width"].get<int64_t>(), r["trainable"].get<int64_t>(),
                                 r["vs_vit"].is_null() ? std::string("-") : fmt::format("{:.2f}", r["vs_vit"].get<double>()),
                                 r["mean"].get<double>(), r["sd"].get<double>(), r["runs"].get<size_t>());
    }
    return {summary};
  }
  std::vector<std::string> reports;
  std::string out, accuracy_svg, routing_svg;
  cli::PrintOptions print;
};
}  // namespace

void add_plot(cli::Tool& tool) { tool.add<PlotCommand>(); }
