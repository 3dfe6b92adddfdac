// rps-compress sweep: methods x compressions x seeds, each an independent train job (cli/sweep.h),
// locally in parallel and resumable; the Snakefile and Makefile in examples/ run the same jobs.
#include <fmt/format.h>

#include <algorithm>

#include "commands.h"
#include "paramkit/cli/sweep.h"
#include "paramkit/core/error.h"
#include "paramkit/core/log.h"

using namespace paramkit;

namespace {
struct SweepResult {
  nlohmann::json manifest;
};
void to_json(nlohmann::json& j, const SweepResult& r) { j = r.manifest; }

struct SweepCommand : cli::TypedCommand<SweepResult> {
  SweepCommand()
      : TypedCommand("sweep",
                     "Train every (method, compression, seed) as an independent job, locally in parallel; finished runs are not "
                     "redone. The flags after -- go to each train job (see rps-compress train --help)",
                     "rps-compress sweep --methods dense,rps,mag --compressions 1,0.1 --seeds 0 --jobs 2 -o /tmp/rps-sweep -- "
                     "--train-images tests/data/mnist-256-images-idx3-ubyte.gz --train-labels tests/data/mnist-256-labels-idx1-ubyte.gz "
                     "--epochs 1") {}
  void add_options(CLI::App& app) override {
    app.add_option("--methods", methods, "Methods (dense runs once per seed, at compression 1)")
        ->required()
        ->delimiter(',')
        ->check(CLI::IsMember({"dense", "hashednet", "roast", "rps", "mag", "snip", "grasp", "synflow", "ltr"}));
    app.add_option("--compressions", compressions, "Fractions of the weights kept")->required()->delimiter(',')->check(CLI::Range(1e-9, 1.0));
    app.add_option("--seeds", seeds, "Seeds (default: --seed)")->delimiter(',')->check(CLI::Range(uint64_t{0}, uint64_t{1} << 62));
    cli::add_sweep_options(app, sweep);
  }
  SweepResult run(cli::Context& ctx) override {
    if (seeds.empty()) seeds = {ctx.common.seed};
    for (auto* v : {&compressions}) {
      std::sort(v->begin(), v->end(), std::greater<double>());
      v->erase(std::unique(v->begin(), v->end()), v->end());
    }
    std::sort(seeds.begin(), seeds.end());
    seeds.erase(std::unique(seeds.begin(), seeds.end()), seeds.end());
    std::vector<std::string> ms;
    for (const auto& m : methods)
      if (std::find(ms.begin(), ms.end(), m) == ms.end()) ms.push_back(m);
    std::vector<cli::SweepRun> runs;
    for (const auto& m : ms)
      for (double c : compressions) {
        if (m == "dense" && c != 1) continue;
        for (uint64_t s : seeds)
          runs.push_back({fmt::format("{}-c{:g}-s{}", m, c, s),
                          {"--method", m, "--compression", fmt::format("{:.17g}", c), "--seed", std::to_string(s)},
                          {{"method", m}, {"compression", c}, {"seed", s}}});
      }
    if (runs.empty()) throw UsageError("--methods dense runs only at --compressions 1");
    sweep.owned = {"--method", "--compression", "--seeds", "--save", "--save-weights"};
    auto train = make_train_command();
    nlohmann::json manifest = cli::run_sweep(*train, runs, sweep, ctx, {"test_accuracy", "stored"});
    log::info("summarize with: rps-compress summarize {}/runs/*.json", sweep.out);
    return {manifest};
  }
  std::vector<std::string> methods;
  std::vector<double> compressions;
  std::vector<uint64_t> seeds;
  cli::SweepOptions sweep;
};
}  // namespace

void add_sweep(cli::Tool& tool) { tool.add<SweepCommand>(); }
