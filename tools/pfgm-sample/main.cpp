// pfgm-sample: PFGM++ (Xu et al., ICML 2023) with D = inf as exactly EDM: train a denoiser for any D,
// sample with EDM's samplers, evaluate sample quality, plot the robustness study; toy mixtures and the
// feature classifier of the image metrics.
#include "commands.h"
#include "paramkit/torch/runtime.h"

int main(int argc, char** argv) {
  paramkit::cli::Tool tool("pfgm-sample",
                           "Train and sample PFGM++ generative models for any augmentation dimension D (D = inf is EDM), "
                           "evaluate the samples and plot how quality depends on D.");
  tool.set_runtime([](const paramkit::cli::CommonOptions& c) { paramkit::start_torch(c.seed, c.threads, c.device); });
  add_toy(tool);
  add_train(tool);
  add_sample(tool);
  add_classifier(tool);
  add_evaluate(tool);
  add_plot(tool);
  return tool.main(argc, argv);
}
