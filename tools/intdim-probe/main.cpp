// intdim-probe: the intrinsic dimension of objective landscapes (Li et al., ICLR 2018): train a model
// in random subspaces of growing dimension d and find where it reaches 90% of direct training.
#include "commands.h"
#include "paramkit/torch/runtime.h"

int main(int argc, char** argv) {
  paramkit::cli::Tool tool("intdim-probe",
                           "Intrinsic dimension of objective landscapes: train models in random subspaces theta0 + P theta_d "
                           "(dense, sparse or Fastfood projections from a seed).");
  tool.set_runtime([](const paramkit::cli::CommonOptions& c) { paramkit::start_torch(c.seed, c.threads, c.device); });
  add_train(tool);
  add_sweep(tool);
  add_summarize(tool);
  add_export(tool);
  add_expand(tool);
  return tool.main(argc, argv);
}
