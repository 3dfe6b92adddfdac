// mmsb-fit: multi-marginal Schrodinger bridges with iterative reference refinement (Shen, Berlinghieri &
// Broderick, AISTATS 2025): trajectories and a mechanistic drift from population snapshots.
#include "commands.h"
#include "paramkit/torch/runtime.h"

int main(int argc, char** argv) {
  paramkit::cli::Tool tool("mmsb-fit",
                           "Fit multi-marginal Schrodinger bridges to population snapshots and refine a parametric reference drift "
                           "(Lotka-Volterra, repressilator, linear/OU, spring, potential) until it settles.");
  tool.set_runtime([](const paramkit::cli::CommonOptions& c) { paramkit::start_torch(c.seed, c.threads, c.device); });
  add_simulate(tool);
  add_fit(tool);
  add_evaluate(tool);
  add_plot(tool);
  return tool.main(argc, argv);
}
