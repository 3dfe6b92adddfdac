// rps-compress: randomized parameter sharing (ROAST, STABLE-RPS; Desai & Shrivastava, ICLR 2024)
// against pruning at the same parameter count: train, sweep, summarize, expand.
#include "commands.h"
#include "paramkit/torch/runtime.h"

int main(int argc, char** argv) {
  paramkit::cli::Tool tool("rps-compress",
                           "Compress a model to a parameter budget by randomized parameter sharing (HashedNet, ROAST, STABLE-RPS) "
                           "or by pruning (MAG, SNIP, GraSP, SynFlow, lottery-ticket rewinding), and compare them.");
  tool.set_runtime([](const paramkit::cli::CommonOptions& c) { paramkit::start_torch(c.seed, c.threads, c.device); });
  add_train(tool);
  add_sweep(tool);
  add_summarize(tool);
  add_expand(tool);
  return tool.main(argc, argv);
}
