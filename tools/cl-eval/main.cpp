// cl-eval: continual-learning algorithms evaluated with separate tuning and evaluation phases (Cha &
// Cho, "Hyperparameters in Continual Learning: A Reality Check", TMLR 2025): run, tune, evaluate, report.
#include "commands.h"
#include "paramkit/torch/runtime.h"

int main(int argc, char** argv) {
  paramkit::cli::Tool tool("cl-eval",
                           "Evaluate continual-learning algorithms with the two-phase protocol: tune on one scenario (D_HT), evaluate the "
                           "best configuration on a disjoint one (D_E), and compare with tuning and reporting on the same data.");
  tool.set_runtime([](const paramkit::cli::CommonOptions& c) { paramkit::start_torch(c.seed, c.threads, c.device); });
  add_run(tool);
  add_tune(tool);
  add_evaluate(tool);
  add_report(tool);
  return tool.main(argc, argv);
}
