// intdim-probe sweep: every (d, seed) of the lists as an independent train job, run locally in
// parallel; finished runs are not redone (cli/sweep.h). The Snakefile and Makefile in examples/ run
// the same train command lines as cluster jobs.
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
                     "Train every (d, seed) as an independent job, locally in parallel; finished runs are not redone. "
                     "The flags after -- go to each train job (see intdim-probe train --help)",
                     "intdim-probe sweep --d 0,20,100 --seeds 0,1 --jobs 2 -o /tmp/intdim-sweep -- --train-images "
                     "tests/data/mnist-256-images-idx3-ubyte.gz --train-labels tests/data/mnist-256-labels-idx1-ubyte.gz --epochs 1") {}
  void add_options(CLI::App& app) override {
    app.add_option("--d", ds, "Subspace dimensions (0: direct training, the baseline)")->required()->delimiter(',')->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
    app.add_option("--seeds", seeds, "Seeds: one run per d and seed (default: --seed)")->delimiter(',')->check(CLI::Range(uint64_t{0}, uint64_t{1} << 62));
    cli::add_sweep_options(app, sweep);
  }
  SweepResult run(cli::Context& ctx) override {
    if (seeds.empty()) seeds = {ctx.common.seed};
    std::sort(ds.begin(), ds.end());
    ds.erase(std::unique(ds.begin(), ds.end()), ds.end());
    std::sort(seeds.begin(), seeds.end());
    seeds.erase(std::unique(seeds.begin(), seeds.end()), seeds.end());
    if (ds.size() * seeds.size() > 100000) throw UsageError("--d x --seeds: at most 100000 runs in one sweep");
    // Largest d first: the longest runs start early, and a d beyond the model's size fails at once.
    std::vector<cli::SweepRun> runs;
    for (auto d = ds.rbegin(); d != ds.rend(); ++d)
      for (uint64_t s : seeds)
        runs.push_back({fmt::format("d{}-s{}", *d, s), {"--d", std::to_string(*d), "--seed", std::to_string(s)}, {{"d", *d}, {"seed", s}}});
    sweep.owned = {"--d", "--seeds"};
    sweep.placeholder = {"--d", "1"};
    auto train = make_train_command();
    nlohmann::json manifest = cli::run_sweep(*train, runs, sweep, ctx);
    log::info("summarize with: intdim-probe summarize {}/runs/*.json", sweep.out);
    return {manifest};
  }
  std::vector<int64_t> ds;
  std::vector<uint64_t> seeds;
  cli::SweepOptions sweep;
};
}  // namespace

void add_sweep(cli::Tool& tool) { tool.add<SweepCommand>(); }
