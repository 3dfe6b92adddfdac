// cl-eval run: one algorithm with one configuration on one scenario (a part: all, D_HT or D_E): the
// accuracy matrix and its metrics. tune and evaluate run it as their jobs.
#include <fmt/format.h>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/json.h"
#include "paramkit/torch/device.h"

using namespace paramkit;

namespace {
struct RunReport {
  nlohmann::json j;
};
void to_json(nlohmann::json& j, const RunReport& r) { j = r.j; }

struct RunCommand : cli::TypedCommand<RunReport> {
  RunCommand()
      : TypedCommand("run", "Train one algorithm with one configuration over a scenario's tasks; report the accuracy matrix and its metrics",
                     "cl-eval run --train-images tests/data/mnist-256-images-idx3-ubyte.gz --train-labels tests/data/mnist-256-labels-idx1-ubyte.gz "
                     "--test-images tests/data/mnist-256-images-idx3-ubyte.gz --test-labels tests/data/mnist-256-labels-idx1-ubyte.gz "
                     "--algorithm replay --hyper lr=0.05 --memory 50 --hidden 64 -o /tmp/cl-run.json") {}
  void add_options(CLI::App& app) override {
    add_scenario_flags(app, scen);
    app.add_option("--part", part, "The data: all, ht (D_HT: tuning) or e (D_E: evaluation)")->capture_default_str()->check(CLI::IsMember({"all", "ht", "e"}));
    app.add_option("--algorithm", algo.name, "finetune, joint, ewc, lwf, replay, icarl, wa, der or derpp")
        ->required()
        ->check(CLI::IsMember(cl::algorithm_names()));
    app.add_option("--hyper", hyper, "A hyperparameter: name=value (repeatable; lr, ewc.lambda, lwf.alpha, lwf.temperature, wa.alpha, der.alpha, der.beta)")->take_all();
    add_budget_flags(app, algo);
    cli::add_checkpointing(app, checkpoint, "steps (batches)");
    cli::add_output(app, out, "Report (JSON)");
  }
  RunReport run(cli::Context& ctx) override {
    if (parse_device(ctx.common.device) != c10::Device(c10::kCPU)) throw UsageError("--device: cl-eval runs on the CPU");
    for (const auto& h : hyper) {
      const auto eq = h.find('=');
      if (eq == std::string::npos) throw UsageError(fmt::format("--hyper {}: expected name=value", h));
      algo.hypers[h.substr(0, eq)] = cli::parse_number(h.substr(eq + 1), "--hyper " + h.substr(0, eq));
    }
    algo.validate();
    const cl::Scenario sc = load_scenario(scen, part, ctx.common.seed);
    const cl::RunResult r = cl::run_continual(sc, algo, ctx.common.seed, checkpoint);
    nlohmann::json hypers = nlohmann::json::object();
    for (const auto& p : cl::algorithm_space(algo.name)) hypers[p.name] = algo.hyper(p.name);
    cl::ScenarioSpec spec = sc.spec;
    nlohmann::json j = {{"algorithm", algo.name}, {"hypers", hypers}, {"scenario", cl::to_json(spec)}, {"seed", ctx.common.seed},
                        {"epochs", algo.epochs}, {"batch_size", algo.batch_size}, {"memory", algo.memory}, {"hidden", algo.hidden},
                        {"class_order", sc.class_order}, {"steps", r.steps}, {"finished", r.finished},
                        {"diverged_at", r.diverged_at > 0 ? nlohmann::json(r.diverged_at) : nlohmann::json(nullptr)}};
    if (!r.finished) return {j};
    j["accuracy"] = r.accuracy;
    j["metrics"] = cl::metrics_json(r.accuracy);
    j["final"] = j["metrics"]["final"];
    check_stop();
    write_report(out, j);
    return {j};
  }
  ScenarioFlags scen;
  std::string part = "all", out;
  std::vector<std::string> hyper;
  cl::AlgoSpec algo;
  CheckpointOptions checkpoint;
};
}  // namespace

void add_run(cli::Tool& tool) { tool.add<RunCommand>(); }
std::unique_ptr<cli::Command> make_run_command() { return std::make_unique<RunCommand>(); }
