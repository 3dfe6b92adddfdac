// cl-eval tune (phase 1) and conventional: random configurations of each algorithm's hyperparameters,
// each an independent resumable run job (cli/sweep.h), on the D_HT scenario (tune) or on the D_E scenario
// itself (conventional: tuning and reporting on the same data); DIR/tune.json, written last, holds every
// configuration's metrics and each algorithm's best by final (or average incremental) accuracy.
#include <fmt/format.h>

#include <filesystem>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/cli/sweep.h"
#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/json.h"

using namespace paramkit;
namespace fs = std::filesystem;

namespace {
struct TuneResult {
  nlohmann::json j;
};
void to_json(nlohmann::json& j, const TuneResult& r) { j = r.j; }

struct TuneCommand : cli::TypedCommand<TuneResult> {
  TuneCommand(bool conventional)
      : TypedCommand(conventional ? "conventional" : "tune",
                     conventional ? "The conventional protocol: tune every algorithm on the D_E scenario and report the best configuration's "
                                    "score there (what phase 2 is compared with); the flags after -- go to each run job"
                                  : "Phase 1: random configurations of every algorithm on the D_HT scenario, each an independent resumable run "
                                    "job, locally in parallel; the best per algorithm; the flags after -- go to each run job",
                     std::string("cl-eval ") + (conventional ? "conventional" : "tune") +
                         " --algorithms finetune,replay --configs 2 --jobs 2 -o /tmp/cl-" + (conventional ? "conventional" : "tune") +
                         " -- --train-images tests/data/mnist-256-images-idx3-ubyte.gz --train-labels tests/data/mnist-256-labels-idx1-ubyte.gz "
                         "--test-images tests/data/mnist-256-images-idx3-ubyte.gz --test-labels tests/data/mnist-256-labels-idx1-ubyte.gz --hidden 32 --memory 20"),
        conventional_(conventional) {}
  void add_options(CLI::App& app) override {
    app.add_option("--algorithms", algorithms, "Algorithms (default: all nine)")->delimiter(',')->check(CLI::IsMember(cl::algorithm_names()));
    app.add_option("--configs", configs, "Random configurations per algorithm (the first is the defaults)")->capture_default_str()->check(CLI::Range(1, 10000));
    app.add_option("--select", select, "final or average (incremental) accuracy picks the best")->capture_default_str()->check(CLI::IsMember({"final", "average"}));
    cli::add_sweep_options(app, sweep);
  }
  TuneResult run(cli::Context& ctx) override {
    if (algorithms.empty()) algorithms = cl::algorithm_names();
    const std::string part = conventional_ ? "e" : "ht";
    std::vector<cli::SweepRun> runs;
    std::vector<std::pair<std::string, nlohmann::json>> meta;
    for (const auto& a : algorithms) {
      const auto space = cl::algorithm_space(a);
      // configuration 0: the defaults (each space's init); then seeded random ones
      std::vector<hpo::Config> cfgs;
      hpo::Config init;
      for (const auto& p : space) init.push_back(p.init);
      cfgs.push_back(init);
      if (configs > 1) {
        const auto r = hpo::random_configs(space, configs - 1, ctx.common.seed * 1000003 + std::hash<std::string>{}(a) % 1000003);
        cfgs.insert(cfgs.end(), r.begin(), r.end());
      }
      for (size_t i = 0; i < cfgs.size(); ++i) {
        std::vector<std::string> args = {"--algorithm", a, "--part", part, "--seed", std::to_string(ctx.common.seed)};
        nlohmann::json hypers = nlohmann::json::object();
        for (size_t k = 0; k < space.size(); ++k) {
          args.push_back("--hyper");
          args.push_back(fmt::format("{}={:.17g}", space[k].name, cfgs[i][k]));
          hypers[space[k].name] = cfgs[i][k];
        }
        runs.push_back({fmt::format("{}-c{:03}", a, i), args, {{"algorithm", a}, {"config", i}, {"hypers", hypers}}});
      }
    }
    sweep.owned = {"--algorithm", "--part", "--hyper"};
    sweep.placeholder = {"--algorithm", "finetune"};
    auto run = make_run_command();
    const nlohmann::json manifest = cli::run_sweep(*run, runs, sweep, ctx, {"final", "metrics"});
    nlohmann::json out = {{"protocol", conventional_ ? "conventional" : "two-phase tuning"}, {"part", part}, {"select", select},
                          {"seed", ctx.common.seed}, {"configs", configs}, {"algorithms", nlohmann::json::object()}};
    for (const auto& a : algorithms) {
      nlohmann::json all = nlohmann::json::array(), best;
      double best_score = -1;
      for (const auto& e : manifest["runs"]) {
        if (e["algorithm"] != a) continue;
        all.push_back(e);
        const double score = e["metrics"][select == "final" ? "final" : "average_incremental"].get<double>();
        if (score > best_score) best_score = score, best = e;
      }
      out["algorithms"][a] = {{"best", best}, {"runs", all}};
      log::info("{}: best {} accuracy {:.4f} with {}", a, select, best_score, best["hypers"].dump());
    }
    check_stop();
    write_report((fs::path(sweep.out) / "tune.json").string(), out);
    return {out};
  }
  bool conventional_;
  std::vector<std::string> algorithms;
  int64_t configs = 8;
  std::string select = "final";
  cli::SweepOptions sweep;
};
}  // namespace

void add_tune(cli::Tool& tool) {
  tool.add<TuneCommand>(false);
  tool.add<TuneCommand>(true);
}
