// Model-merging methods per tensor, with mergekit's semantics (linear, task_arithmetic, ties,
// dare_linear, dare_ties, breadcrumbs, breadcrumbs_ties, della, della_linear, slerp, model_stock) and PCB.
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
// The sparsifying methods of mergekit's generalized task arithmetic (ties, dare_linear, dare_ties,
// breadcrumbs, breadcrumbs_ties, della, della_linear): merged on the CPU by merge_gta.
bool method_is_gta(const std::string& method);
// Sign consensus (TIES election) after sparsification: ties, dare_ties, breadcrumbs_ties, della.
bool method_has_consensus(const std::string& method);
// Magnitude trimming keeps int(density * numel) entries (ties): 0 for a tensor smaller than 1/density.
bool method_trims_by_count(const std::string& method);

// Weights and lambdas: finite, magnitude at most this (larger ones only overflow the output).
constexpr double kMaxScale = 1e4;
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
// DELLA's keep probabilities: linear in the magnitude rank along dim 1 (a 1-D tensor is one row; a
// tensor of 3 or more dims is ranked along dim 1 for each index of the others, as mergekit does), in
// [density - epsilon, density + epsilon]. A single entry along dim 1 gets density - epsilon.
torch::Tensor della_probabilities(const torch::Tensor& delta, double density, double epsilon);

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
// the fine-tuned models' tensors, float32, same shape. gen: seeded per tensor by the caller. On the
// CPU the sparsifying methods run merge_gta; elsewhere (GPU) merge_tensor_torch.
torch::Tensor merge_tensor(const MethodOptions& o, const torch::Tensor& base, const std::vector<torch::Tensor>& models,
                           const std::vector<ModelParams>& params, torch::Generator& gen);
// The same as whole-tensor LibTorch operations, on any device (the GPU path, and the reference the
// CPU kernel is tested against: equal bytes).
torch::Tensor merge_tensor_torch(const MethodOptions& o, const torch::Tensor& base, const std::vector<torch::Tensor>& models,
                                 const std::vector<ModelParams>& params, torch::Generator& gen);

// Buffers of merge_gta, reused from tensor to tensor (one set per thread): the n task vectors one
// after another (the layout of torch::stack) and two scratch tensors. They grow to the largest
// tensor, so a merge holds about n + 3 tensors per thread, whatever the model size.
struct GtaBuffers {
  std::vector<float> rows, a, b;
  // Where model i's values go (count floats); the caller fills every row before merge_gta.
  float* row(size_t i, size_t n, int64_t count);
};
// A sparsifying method on one float32 tensor on the CPU: rows of `buf` hold the models' values (they
// become the sparsified task vectors), base and out hold `shape`'s count values (out may not alias
// base). Whole-tensor steps (selection, random masks, rescaling) run on the task vectors in place;
// the mixing runs in column blocks with small temporaries. Same bytes as merge_tensor_torch.
void merge_gta(const MethodOptions& o, const float* base, const std::vector<ModelParams>& params,
               const std::vector<int64_t>& shape, torch::Generator& gen, GtaBuffers& buf, float* out);

}  // namespace paramkit::merge
