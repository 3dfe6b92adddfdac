// Model-merging methods per tensor, with mergekit's semantics (linear, task_arithmetic, ties,
// dare_linear, dare_ties, breadcrumbs, della, slerp, model_stock) and PCB.
#pragma once
#include <torch/torch.h>

#include <optional>
#include <string>
#include <vector>

#include "paramkit/merge/pcb.h"

namespace paramkit::merge {

// Parameters of one fine-tuned model (mergekit's per-model "parameters").
struct ModelParams {
  double weight = 1.0;
  double density = 1.0;
  double gamma = 0.01;    // breadcrumbs: fraction of the largest magnitudes removed
  double epsilon = 0.15;  // della: half-width of the keep-probability range
};

struct MethodOptions {
  std::string method = "pcb";
  std::optional<bool> normalize;  // unset: the method's mergekit default
  std::optional<bool> rescale;    // unset: the method's mergekit default (DARE/DELLA rescale, L1)
  double lambda = 1.0;            // scales the merged task vector (GTA methods)
  double t = 0.5;                 // slerp: 0 gives the base, 1 the other model
  PcbOptions pcb;
};

const std::vector<std::string>& method_names();
bool method_needs_base(const std::string& method);
bool method_is_random(const std::string& method);
// mergekit's defaults: {normalize, rescale}.
std::pair<bool, bool> method_defaults(const std::string& method);
// UsageError for unknown methods, wrong model counts and out-of-range parameters.
void validate_method(const MethodOptions& o, const std::vector<ModelParams>& models);

// Sparsification of one task vector, as mergekit: magnitude (TIES), bernoulli (DARE), magnitude
// outliers (breadcrumbs), rank-magnitude sampling (DELLA). rescale matches the L1 norm.
torch::Tensor sparsify_magnitude(const torch::Tensor& delta, double density, bool rescale);
torch::Tensor sparsify_bernoulli(const torch::Tensor& delta, double density, bool rescale, torch::Generator& gen);
torch::Tensor sparsify_outliers(const torch::Tensor& delta, double density, double gamma, bool rescale);
torch::Tensor sparsify_della(const torch::Tensor& delta, double density, double epsilon, bool rescale, torch::Generator& gen);

// The kernel of linear and task_arithmetic over float32 arrays of `count` values (no temporaries):
// with a base, out = base + lambda * (sum_i w_i (x_i - base)) / divisor; without (base null),
// out = lambda * (sum_i w_i x_i) / divisor. out may not alias the inputs.
void mix_linear(const float* base, const std::vector<const float*>& xs, const std::vector<float>& w, float lambda,
                float divisor, int64_t count, float* out);
// mix_linear's weights, lambda and divisor for a linear-type method ("linear" or "task_arithmetic").
struct LinearMix {
  std::vector<float> w;
  float lambda = 1, divisor = 1;
};
LinearMix linear_mix(const MethodOptions& o, const std::vector<ModelParams>& params);
bool method_is_linear_mix(const std::string& method);

// Merges one tensor. base: the base model's tensor (undefined for linear without a base); models:
// the fine-tuned models' tensors, float32, same shape. gen: seeded per tensor by the caller.
torch::Tensor merge_tensor(const MethodOptions& o, const torch::Tensor& base, const std::vector<torch::Tensor>& models,
                           const std::vector<ModelParams>& params, torch::Generator& gen);

}  // namespace paramkit::merge
