// cl-eval evaluate (phase 2): each algorithm's best configuration from a tune folder, once per seed on
// the D_E scenario (same configuration, disjoint data); DIR/evaluate.json, written last, holds the
// metrics per run and their mean and sd per algorithm.
#include <fmt/format.h>

#include <filesystem>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/cli/sweep.h"
#include "paramkit/core/error.h"
#include "paramkit/core/sample.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/json.h"

using namespace paramkit;
namespace fs = std::filesystem;

namespace {
struct EvalResult {
  nlohmann::json j;
};
void to_json(nlohmann::json& j, const EvalResult& r) { j = r.j; }

struct EvaluateCommand : cli::TypedCommand<EvalResult> {
  EvaluateCommand()
      : TypedCommand("evaluate",
                     "Phase 2: each algorithm's best configuration of a tune folder, once per seed on the D_E scenario; the flags after -- "
                     "go to each run job and must describe the same scenario as the tuning",
                     "cl-eval evaluate /tmp/cl-tune --seeds 0,1 --jobs 2 -o /tmp/cl-evaluate -- --train-images tests/data/mnist-256-images-idx3-ubyte.gz "
                     "--train-labels tests/data/mnist-256-labels-idx1-ubyte.gz --test-images tests/data/mnist-256-images-idx3-ubyte.gz "
                     "--test-labels tests/data/mnist-256-labels-idx1-ubyte.gz --hidden 32 --memory 20") {}
  void add_options(CLI::App& app) override {
    app.add_option("tune", tune_dir, "A tune folder (its tune.json)")->required()->check(CLI::ExistingDirectory);
    app.add_option("--seeds", seeds, "Seeds (class orders and initialisations)")->delimiter(',')->check(CLI::Range(uint64_t{0}, uint64_t{1} << 62));
    cli::add_sweep_options(app, sweep);
  }
  EvalResult run(cli::Context& ctx) override {
    if (seeds.empty()) seeds = {0, 1, 2};
    const std::string path = (fs::path(tune_dir) / "tune.json").string();
    const nlohmann::json tune = read_json(path);
    if (!tune.is_object() || !tune.contains("algorithms") || !tune["algorithms"].is_object())
      throw InputError(path, "algorithms", "expected a cl-eval tune result (tune.json)");
    if (tune.value("part", "") != "ht") throw InputError(path, "part", "phase 2 takes the configurations tuned on D_HT (cl-eval tune, not conventional)");
    std::vector<cli::SweepRun> runs;
    for (const auto& [a, v] : tune["algorithms"].items()) {
      const auto& best = v.at("best");
      if (!best.contains("hypers")) throw InputError(path, "algorithms." + a + ".best", "no configuration");
      for (uint64_t s : seeds) {
        std::vector<std::string> args = {"--algorithm", a, "--part", "e", "--seed", std::to_string(s)};
        for (const auto& [k, val] : best["hypers"].items()) {
          args.push_back("--hyper");
          args.push_back(fmt::format("{}={:.17g}", k, val.get<double>()));
        }
        runs.push_back({fmt::format("{}-s{}", a, s), args, {{"algorithm", a}, {"seed", s}, {"hypers", best["hypers"]}}});
      }
    }
    sweep.owned = {"--algorithm", "--part", "--hyper"};
    sweep.placeholder = {"--algorithm", "finetune"};
    auto run = make_run_command();
    const nlohmann::json manifest = cli::run_sweep(*run, runs, sweep, ctx, {"final", "metrics"});
    nlohmann::json out = {{"protocol", "two-phase"}, {"tune", path}, {"seeds", seeds}, {"algorithms", nlohmann::json::object()}};
    for (const auto& [a, v] : tune["algorithms"].items()) {
      std::map<std::string, Sample> m;
      nlohmann::json rs = nlohmann::json::array();
      for (const auto& e : manifest["runs"]) {
        if (e["algorithm"] != a) continue;
        rs.push_back(e);
        for (const auto& [k, x] : e["metrics"].items()) m[k].add(x.get<double>());
      }
      nlohmann::json stats = nlohmann::json::object();
      for (const auto& [k, s] : m) stats[k] = {{"mean", s.mean()}, {"sd", s.sd()}};
      out["algorithms"][a] = {{"hypers", v["best"]["hypers"]}, {"metrics", stats}, {"runs", rs}};
    }
    check_stop();
    write_report((fs::path(sweep.out) / "evaluate.json").string(), out);
    return {out};
  }
  std::string tune_dir;
  std::vector<uint64_t> seeds;
  cli::SweepOptions sweep;
};
}  // namespace

void add_evaluate(cli::Tool& tool) { tool.add<EvaluateCommand>(); }
