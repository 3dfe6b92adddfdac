// Optimizers (SGD, Adam, AdamW) and learning-rate schedules (constant, step, cosine with warmup).
// Their flags are the command layer's (cli/nn_options.h).
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>

namespace paramkit::nn {

struct OptimizerOptions {
  std::string name = "adam";  // sgd, adam, adamw
  double lr = 1e-3;
  double momentum = 0.9;  // sgd
  bool nesterov = false;  // sgd
  double weight_decay = 0.0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // adam, adamw
};

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerOptions& o, std::vector<torch::Tensor> params);

struct ScheduleOptions {
  std::string kind = "constant";  // constant, step, cosine
  int64_t warmup = 0;             // linear warmup steps (all kinds)
  int64_t step_size = 1000;       // step: decay every step_size steps
  double gamma = 0.1;             // step: factor
  double min_lr_ratio = 0.0;      // cosine: floor as a fraction of the base lr
};

// Learning rate at `step` (0-based) of `total` steps for base rate `base`.
double lr_at(const ScheduleOptions& s, double base, int64_t step, int64_t total);
void set_lr(torch::optim::Optimizer& opt, double lr);

}  // namespace paramkit::nn
