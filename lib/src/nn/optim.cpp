// Optimizer construction and learning-rate schedules.
#include "paramkit/nn/optim.h"

#include <cmath>

#include "paramkit/core/error.h"

namespace paramkit::nn {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerOptions& o, std::vector<torch::Tensor> params) {
  if (o.name == "sgd")
    return std::make_unique<torch::optim::SGD>(
        params, torch::optim::SGDOptions(o.lr).momentum(o.momentum).nesterov(o.nesterov).weight_decay(o.weight_decay));
  if (o.name == "adam")
    return std::make_unique<torch::optim::Adam>(
        params, torch::optim::AdamOptions(o.lr).betas({o.beta1, o.beta2}).eps(o.eps).weight_decay(o.weight_decay));
  if (o.name == "adamw")
    return std::make_unique<torch::optim::AdamW>(
        params, torch::optim::AdamWOptions(o.lr).betas({o.beta1, o.beta2}).eps(o.eps).weight_decay(o.weight_decay));
  throw UsageError("--optimizer must be sgd, adam or adamw, got '" + o.name + "'");
}

double lr_at(const ScheduleOptions& s, double base, int64_t step, int64_t total) {
  if (s.warmup > 0 && step < s.warmup) return base * static_cast<double>(step + 1) / static_cast<double>(s.warmup);
  if (s.kind == "constant") return base;
  if (s.kind == "step") return base * std::pow(s.gamma, static_cast<double>((step - s.warmup) / s.step_size));
  if (s.kind == "cosine") {
    int64_t span = std::max<int64_t>(1, total - s.warmup);
    double t = std::min(1.0, static_cast<double>(step - s.warmup) / static_cast<double>(span));
    double lo = base * s.min_lr_ratio;
    return lo + 0.5 * (base - lo) * (1.0 + std::cos(M_PI * t));
  }
  throw UsageError("--schedule must be constant, step or cosine, got '" + s.kind + "'");
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& g : opt.param_groups()) g.options().set_lr(lr);
}

}  // namespace paramkit::nn
