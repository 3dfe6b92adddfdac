// widenet-train: WideNet (Xue et al., AAAI 2022: shared MoE transformer blocks with individual
// LayerNorms) against ViT and ViT-MoE: train, evaluate, params, plot.
#include "commands.h"
#include "paramkit/torch/runtime.h"

int main(int argc, char** argv) {
  paramkit::cli::Tool tool("widenet-train",
                           "Train and compare vision transformers that go wider instead of deeper: WideNet (MoE blocks shared across "
                           "depth, LayerNorms per block) against ViT and ViT-MoE.");
  tool.set_runtime([](const paramkit::cli::CommonOptions& c) { paramkit::start_torch(c.seed, c.threads, c.device); });
  add_train(tool);
  add_evaluate(tool);
  add_params(tool);
  add_plot(tool);
  return tool.main(argc, argv);
}
