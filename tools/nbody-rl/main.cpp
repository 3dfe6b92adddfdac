// nbody-rl: few-body integrators (Hermite, leapfrog, IAS15-class, RK45) and a DQN agent that chooses
// the time-step parameter (Saz Ulibarrena & Portegies Zwart 2025).
#include <iostream>

#include "paramkit/core/log.h"
#include "paramkit/core/run.h"
#include "paramkit/nbody/commands.h"

using namespace paramkit;
using namespace paramkit::nbody;

int main(int argc, char** argv) {
  Tool tool("nbody-rl", "Integrate few-body systems (Hermite, leapfrog, IAS15-class, RK45) and train/evaluate an RL agent that picks the time-step parameter.",
            "nbody-rl integrate --problem figure-eight --integrator ias15 --t-end 6.32591398 --diagnostics /tmp/fig8.json");
  CLI::App& app = tool.app();
  app.require_subcommand(1);
  app.fallthrough();

  IntegrateOptions io;
  auto* integrate = app.add_subcommand("integrate", "Integrate initial conditions; trajectory, diagnostics and plots out");
  io.register_flags(*integrate);

  TrainFlags tf;
  auto* train = app.add_subcommand("train", "Train the DQN agent on the paper's environment (checkpointed, resumable)");
  tf.register_flags(*train);

  EvaluateOptions eo;
  auto* evaluate = app.add_subcommand("evaluate", "A policy against every fixed eta on held-out seeds (energy error vs cost)");
  eo.register_flags(*evaluate);

  return tool.run(argc, argv, [&](RunContext& ctx) -> int {
    if (*integrate) {
      ctx.results = run_integrate(io);
      ctx.results.erase("provenance");
      if (io.diagnostics.empty() && io.out.empty()) std::cout << ctx.results.dump(2) << "\n";
      return 0;
    }
    if (*train) {
      ctx.results = train_dqn(tf.resolve(ctx.common.seed));
      return 0;
    }
    ctx.results = run_evaluate(eo);
    ctx.results.erase("provenance");
    return 0;
  });
}
