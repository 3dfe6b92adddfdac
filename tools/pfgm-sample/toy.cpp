// pfgm-sample toy: points of a Gaussian mixture (the 2-D ring of 8 modes, or seeded directions in more
// dimensions) as CSV; the same --seed with another --draw gives held-out points of the same mixture.
#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/signals.h"
#include "paramkit/gen/examples_io.h"
#include "paramkit/gen/toy.h"

using namespace paramkit;

namespace {
struct ToyCommand : cli::Command {
  ToyCommand()
      : Command("toy", "Write points of a toy Gaussian mixture (CSV, HDF5 or safetensors)",
                "pfgm-sample toy --dims 2 --modes 8 -n 2000 -o /tmp/ring.csv") {}
  void add_options(CLI::App& app) override {
    app.add_option("--dims", m.dims, "Dimensions")->capture_default_str()->check(CLI::Range(1, 4096));
    app.add_option("--modes", m.modes, "Mixture components (equal weights)")->capture_default_str()->check(CLI::Range(1, 100000));
    app.add_option("--radius", m.radius, "Distance of every centre from the origin")->capture_default_str()->check(CLI::Range(0.0, 1e6));
    app.add_option("--sd", m.sd, "Standard deviation of each component")->capture_default_str()->check(CLI::Range(1e-9, 1e6));
    app.add_option("-n,--count", n, "Points")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{100000000}));
    app.add_option("--draw", draw, "Draw index: the same --seed and another draw give new points of the same mixture")
        ->capture_default_str()
        ->check(CLI::Range(0, 1000000));
    cli::add_output(app, out, "Points (.csv, .h5 or .safetensors)");
  }
  nlohmann::json execute(cli::Context& ctx) override {
    m.validate();
    auto [x, mode] = gen::toy_points(m, n, ctx.common.seed, static_cast<uint64_t>(draw));
    check_stop();
    gen::Examples e{"points", x, nullptr, ""};
    const nlohmann::json about = {{"toy", {{"dims", m.dims}, {"modes", m.modes}, {"radius", m.radius}, {"sd", m.sd}, {"draw", draw}}}};
    gen::save_examples(out, e, about);
    return {{"points", n}, {"dims", m.dims}, {"modes", m.modes}, {"output", out}};
  }
  gen::ToyMixture m;
  int64_t n = 10000;
  int draw = 0;
  std::string out;
};
}  // namespace

void add_toy(cli::Tool& tool) { tool.add<ToyCommand>(); }
