// stn-tune: Self-Tuning Networks (MacKay et al., ICLR 2019): hyperparameter schedules found in one
// training run, against grid, random search and successive halving at equal compute: tune, search,
// retrain, compare.
#include "commands.h"
#include "paramkit/torch/runtime.h"

int main(int argc, char** argv) {
  paramkit::cli::Tool tool("stn-tune",
                           "Tune regularisation hyperparameters (dropout, augmentation, L2) in one training run with a Self-Tuning "
                           "Network, and compare with grid search, random search and successive halving at equal compute.");
  tool.set_runtime([](const paramkit::cli::CommonOptions& c) { paramkit::start_torch(c.seed, c.threads, c.device); });
  add_tune(tool);
  add_retrain(tool);
  add_search(tool);
  add_compare(tool);
  return tool.main(argc, argv);
}
