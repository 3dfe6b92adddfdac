// Mixture-of-experts feed-forward layer with top-k routing and expert capacity (GShard / V-MoE, as
// WideNet uses it: Xue et al., AAAI 2022), and the dense feed-forward layer it replaces.
//
// Router: bias-free linear d -> E; while training, N(0, noise_std^2) noise on its logits (noise_std
// default 1/E); softmax; each token's top-k experts with gates = the raw probabilities (not
// renormalised). Capacity C = max(1, floor(T cf k / E)) token slots per expert (cf 0: no limit).
// Slots are filled choice by choice (every token's first choice before any second choice), tokens in
// order within a choice; a choice past its expert's capacity is dropped (the token keeps the rest of
// its choices; with none left the layer adds nothing and the token passes on the residual).
// Balance loss alpha E sum_e f_e P_e: f_e the fraction of tokens whose first choice is e, P_e the mean
// router probability of e (alpha for uniform routing, alpha E when every token picks one expert).
// Dispatch by index: the kept (token, choice) pairs are sorted by expert and each expert runs on its
// rows only, so the cost grows with T k, not T E.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace paramkit::nn {

// Two linear layers with GELU between: d -> hidden -> d.
class FeedForwardImpl : public torch::nn::Module {
 public:
  FeedForwardImpl(int64_t dim, int64_t hidden);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(FeedForward);

struct MoeOptions {
  int64_t dim = 64;
  int64_t hidden = 256;  // each expert's hidden width
  int64_t experts = 4;
  int64_t top_k = 2;
  double capacity_factor = 1.2;       // training; 0: no limit
  double eval_capacity_factor = 2.0;  // evaluation; 0: no limit
  double noise_std = -1;              // router logit noise while training; < 0: 1 / experts
  double balance_alpha = 0.01;
  void validate() const;  // UsageError naming the field
};

// The routing decision for T tokens.
struct Routing {
  torch::Tensor probs;     // [T, E] router probabilities
  torch::Tensor expert;    // [T, k] int64: each token's choices, best first
  torch::Tensor gate;      // [T, k] the chosen probabilities (differentiable)
  torch::Tensor position;  // [T, k] int64: slot in the expert's buffer
  torch::Tensor kept;      // [T, k] bool: position < capacity
  int64_t capacity = 0;
};

// Capacity of T tokens: max(1, floor(T cf k / E)); T when cf <= 0 (no limit).
int64_t expert_capacity(int64_t tokens, double capacity_factor, int64_t top_k, int64_t experts);
// Top-k choices, slot positions (choice-major, token order) and the drop rule from router logits.
Routing route_tokens(const torch::Tensor& logits, int64_t top_k, int64_t capacity);
// alpha E sum_e f_e P_e (f from the first choices).
torch::Tensor balance_loss(const Routing& r, double alpha);

// What one call of the layer did (for logs and plots).
struct RouterStats {
  int64_t tokens = 0, capacity = 0;
  std::vector<double> load;  // per expert: kept (token, choice) pairs / (T k)
  double dropped = 0;        // dropped pairs / (T k)
  double balance = 0;        // the balance loss's value
};

struct MoeOutput {
  torch::Tensor y;        // [T, d]
  torch::Tensor balance;  // scalar, differentiable
  RouterStats stats;
};

class MoeImpl : public torch::nn::Module {
 public:
  explicit MoeImpl(const MoeOptions& o);
  // x [T, d] -> y [T, d] by index dispatch.
  MoeOutput forward(const torch::Tensor& x);
  // The same layer with dense one-hot dispatch and combine tensors [T, E, C] and einsums (the usual
  // reference implementation; cost grows with T E C). Same routing, same noise draw when given the
  // same generator state.
  MoeOutput forward_dense(const torch::Tensor& x);
  const MoeOptions& options() const { return o_; }

  torch::nn::Linear router{nullptr};
  torch::Tensor w1, b1, w2, b2;  // [E, d, h], [E, h], [E, h, d], [E, d]

 private:
  Routing route(const torch::Tensor& x);
  RouterStats stats_of(const Routing& r, const torch::Tensor& balance) const;
  MoeOptions o_;
};
TORCH_MODULE(Moe);

}  // namespace paramkit::nn
