// Vision transformers for widenet-train: ViT (Dosovitskiy et al. 2021: patch embedding, class token,
// learned positions, pre-LN blocks), ViT-MoE (V-MoE: the FFN of every other block a mixture of
// experts) and WideNet (Xue et al., AAAI 2022: attention and MoE FFN shared across all blocks or across
// groups of k blocks, each block keeping its own two LayerNorms).
//
// One model covers the three: blocks are grouped by `share_group` (1: every block its own weights;
// depth: one set for all); block i uses weight set i / share_group and, unless share_norms, its own
// LayerNorms. Block i's FFN is an MoE when moe_every > 0 and i % moe_every == moe_every - 1.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "paramkit/data/dataset.h"
#include "paramkit/nn/moe.h"
#include "paramkit/nn/train.h"

namespace paramkit::nn {

struct VitOptions {
  std::string kind = "vit";  // vit | vit-moe | widenet (sets the defaults below through for_kind)
  int64_t image_size = 28, channels = 1, patch = 7, classes = 10;
  int64_t depth = 6, width = 64, heads = 4, mlp_ratio = 4;
  int64_t share_group = 1;    // blocks per shared weight set (0: all)
  bool share_norms = false;   // LayerNorms per weight set instead of per block (the ablation)
  int64_t moe_every = 0;      // 0: no MoE
  int64_t experts = 4, top_k = 2;
  double capacity_factor = 1.2, eval_capacity_factor = 2.0, noise_std = -1, balance_alpha = 0.01;

  // The paper's settings per kind: vit (no sharing, dense FFNs), vit-moe (MoE every 2nd block),
  // widenet (one weight set for all blocks, MoE in every block, LayerNorms per block).
  static VitOptions for_kind(const std::string& kind);
  int64_t groups() const;                // weight sets
  int64_t group_of(int64_t block) const;
  bool is_moe(int64_t block) const;
  int64_t tokens() const;                // patches + class token
  MoeOptions moe() const;
  void validate() const;                 // UsageError naming the field
};
nlohmann::json to_json(const VitOptions& o);
// InputError naming `source` and the field.
VitOptions vit_options_from_json(const nlohmann::json& j, const std::string& source);

// Router statistics of every MoE block use in the last forward pass, in block order.
struct BlockRouting {
  int64_t block = 0;
  RouterStats stats;
};

class VisionTransformerImpl : public torch::nn::Module {
 public:
  explicit VisionTransformerImpl(const VitOptions& o);
  // images [B, C, H, W] (or [B, H, W] for one channel) -> logits [B, classes]. Keeps the summed balance
  // loss of the MoE blocks (aux_loss) and their router statistics (routing) of this pass.
  torch::Tensor forward(const torch::Tensor& images);
  const torch::Tensor& aux_loss() const { return aux_; }
  const std::vector<BlockRouting>& routing() const { return routing_; }
  const VitOptions& options() const { return o_; }

 private:
  torch::Tensor attention(int64_t set, const torch::Tensor& x);
  VitOptions o_;
  torch::nn::Conv2d patch_{nullptr};
  torch::Tensor cls_, pos_;
  torch::nn::ModuleList qkv_, proj_, ffn_, norm1_, norm2_;
  torch::nn::LayerNorm norm_{nullptr};
  torch::nn::Linear head_{nullptr};
  torch::Tensor aux_;
  std::vector<BlockRouting> routing_;
};
TORCH_MODULE(VisionTransformer);

// Parameter counts by component, as the WideNet paper counts them: `trainable` counts each shared
// tensor once; `unrolled` counts it once per block that uses it (the size of the same network without
// sharing); `active` is what one token's forward pass touches (k of E experts).
struct ParamCount {
  std::string component;
  int64_t trainable = 0, unrolled = 0, active = 0;
};
std::vector<ParamCount> count_parameters(const VitOptions& o);
// The totals row ("total") is the last element of count_parameters.

// Router statistics averaged over many passes (weighted by tokens): one entry per MoE block.
struct RoutingSummary {
  std::vector<int64_t> blocks;
  std::vector<std::vector<double>> load;  // [block][expert]
  std::vector<double> dropped, balance;   // per block
  void add(const std::vector<BlockRouting>& pass);
  void clear();
  double mean_dropped() const;
  double total_balance() const;
  nlohmann::json to_json() const;  // {"blocks", "load", "dropped", "balance"}
 private:
  std::vector<double> tokens_;
};

// Trains with cross-entropy (label smoothing) + the MoE blocks' balance losses on the shared
// step loop (nn::train_steps: schedule, checkpoints, resume, SIGTERM). Each JSON Lines record adds the
// window's training accuracy, cross-entropy, balance loss, dropped fraction and per-block expert load.
TrainResult train_vit(VisionTransformerImpl& model, const Dataset& data, const TrainOptions& options, double label_smoothing,
                      uint64_t seed, c10::Device device = c10::kCPU);

struct VitEval {
  EvalResult result;
  RoutingSummary routing;
};
// Accuracy and loss (no smoothing) in eval mode (no router noise, the eval capacity factor), batches of
// batch_size images (the capacity is per batch).
VitEval evaluate_vit(VisionTransformerImpl& model, const Dataset& data, int64_t batch_size = 500, c10::Device device = c10::kCPU);

}  // namespace paramkit::nn
