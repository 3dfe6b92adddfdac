// widenet-train params: trainable, unrolled and active parameter counts per component of a model, as
// the WideNet paper counts them (shared tensors once), without building data or training.
#include <fmt/format.h>

#include <iostream>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/io/json.h"

using namespace paramkit;

namespace {
struct ParamsReport {
  std::string variant;
  nn::VitOptions model;
  std::vector<nn::ParamCount> rows;
};
void to_json(nlohmann::json& j, const ParamsReport& r) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& c : r.rows) rows.push_back({{"component", c.component}, {"trainable", c.trainable}, {"unrolled", c.unrolled}, {"active", c.active}});
  j = {{"variant", r.variant}, {"model", nn::to_json(r.model)}, {"params", rows}, {"trainable", r.rows.back().trainable}};
}

struct ParamsCommand : cli::TypedCommand<ParamsReport> {
  ParamsCommand()
      : TypedCommand("params", "Parameter counts per component: trainable (shared tensors once), unrolled (once per block), active per token",
                     "widenet-train params --model widenet --depth 6 --width 64") {}
  void add_options(CLI::App& app) override {
    add_model_flags(app, model);
    app.add_option("--image-size", image_size, "Image side in pixels")->capture_default_str()->check(CLI::Range(1, 4096));
    app.add_option("--channels", channels, "Image channels")->capture_default_str()->check(CLI::Range(1, 64));
    app.add_option("--classes", classes, "Classes")->capture_default_str()->check(CLI::Range(2, 1 << 20));
    cli::add_output(app, out, "Counts (JSON); without it (or --json) a table on stdout", /*required=*/false);
    cli::add_print(app, print, true, true);
  }
  ParamsReport run(cli::Context&) override {
    ParamsReport r;
    r.model = model_options(model, image_size, channels, classes);
    r.variant = variant_name(r.model);
    r.rows = nn::count_parameters(r.model);
    if (!out.empty()) write_report(out, r);
    if (print.json) std::cout << nlohmann::json(r).dump(2) << "\n";
    if (print.table || (!print.json && out.empty())) {
      std::cout << fmt::format("{}: depth {}, width {}\n{:<24} {:>12} {:>12} {:>12}\n", r.variant, r.model.depth, r.model.width, "component",
                               "trainable", "unrolled", "active");
      for (const auto& c : r.rows) std::cout << fmt::format("{:<24} {:>12} {:>12} {:>12}\n", c.component, c.trainable, c.unrolled, c.active);
    }
    return r;
  }
  ModelFlags model;
  int64_t image_size = 28, channels = 1, classes = 10;
  std::string out;
  cli::PrintOptions print;
};
}  // namespace

void add_params(cli::Tool& tool) { tool.add<ParamsCommand>(); }
