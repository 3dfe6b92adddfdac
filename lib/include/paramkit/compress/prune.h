// Pruning baselines at a given parameter count (the comparison of Desai & Shrivastava 2024, after the
// Synaptic-Flow codebase of Tanaka et al. 2020): scores over the prunable weights (the same weight
// matrices and kernels that parameter sharing compresses: compress::is_shared_weight), a global mask
// that keeps exactly the requested count, and training with the mask held (MaskedWeights).
//   mag      |theta|
//   snip     |g . theta|, g the loss gradient on a batch (Lee et al. 2019)
//   grasp    (H g) . theta, H the loss Hessian (Wang et al. 2020); the highest scores are kept
//   synflow  |dR/dtheta . theta| with R = 1^T f_{|theta|}(1), data-free, iterated with the kept
//            fraction shrinking exponentially (Tanaka et al. 2020)
// Lottery-ticket rewinding (train, prune 20% of the remaining weights by magnitude, rewind, retrain)
// is a loop of the tool over mag scores of trained weights.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "paramkit/nn/generated.h"

namespace paramkit::compress {

enum class Pruner { mag, snip, grasp, synflow };
Pruner parse_pruner(const std::string& name, const std::string& flag);
const char* pruner_name(Pruner p);

using Forward = std::function<torch::Tensor(torch::Tensor)>;
// Named prunable weights of a module, in parameter order.
std::vector<std::pair<std::string, torch::Tensor>> prunable(torch::nn::Module& module);

// Per-weight scores (same shapes as the prunable weights), the current masks applied first where given.
std::vector<torch::Tensor> score_magnitude(torch::nn::Module& module);
std::vector<torch::Tensor> score_snip(torch::nn::Module& module, const Forward& forward, const torch::Tensor& x, const torch::Tensor& y);
std::vector<torch::Tensor> score_grasp(torch::nn::Module& module, const Forward& forward, const torch::Tensor& x, const torch::Tensor& y);
std::vector<torch::Tensor> score_synflow(torch::nn::Module& module, const Forward& forward, const std::vector<int64_t>& input_shape);

// Masks (0/1 float tensors) keeping exactly `keep` weights: the highest scores over all layers
// together, ties broken by position. UsageError for keep outside [1, total].
std::vector<torch::Tensor> top_masks(const std::vector<torch::Tensor>& scores, int64_t keep);

// Masks for `pruner` keeping `keep` weights. synflow runs `rounds` rounds (the kept fraction
// (keep/total)^(k/rounds) at round k), the others one. x, y: a batch for snip and grasp.
std::vector<torch::Tensor> prune_masks(torch::nn::Module& module, const Forward& forward, Pruner pruner, int64_t keep,
                                       const torch::Tensor& x, const torch::Tensor& y, int rounds = 100);

// Training with masks held: load() zeroes the pruned weights, backward() their gradients. Every
// parameter trains (the optimizer's momentum on pruned weights stays zero).
class MaskedWeights : public nn::WeightGenerator {
 public:
  MaskedWeights(torch::nn::Module& module, std::vector<torch::Tensor> masks);
  void load() override;
  void backward() override;
  std::vector<std::pair<std::string, torch::Tensor>> trainable() override;
  std::vector<std::pair<std::string, torch::Tensor>> state() override;
  int64_t kept() const;
  const std::vector<torch::Tensor>& masks() const { return masks_; }
  // New masks of the same shapes, copied into the current ones (which a checkpoint may hold).
  void set_masks(const std::vector<torch::Tensor>& masks);

 private:
  std::vector<std::pair<std::string, torch::Tensor>> weights_, params_, buffers_;
  std::vector<torch::Tensor> masks_;
};

}  // namespace paramkit::compress
