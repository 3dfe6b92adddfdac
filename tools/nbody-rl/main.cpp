// nbody-rl: few-body integrators (Hermite, leapfrog, IAS15-class, RK45) and a DQN agent that chooses
// the time-step parameter (Saz Ulibarrena & Portegies Zwart 2025).
#include "commands.h"
#include "paramkit/torch/runtime.h"

int main(int argc, char** argv) {
  paramkit::cli::Tool tool("nbody-rl",
                           "Integrate few-body systems (Hermite, leapfrog, IAS15-class, RK45) and train/evaluate an RL agent that picks "
                           "the time-step parameter.");
  tool.alias("--out", "--output");
  tool.set_runtime([](const paramkit::cli::CommonOptions& c) { paramkit::start_torch(c.seed, c.threads, c.device); });
  add_integrate(tool);
  add_train(tool);
  add_evaluate(tool);
  return tool.main(argc, argv);
}
