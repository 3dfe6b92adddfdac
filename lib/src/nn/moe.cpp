// Mixture-of-experts layer: routing, capacity, index dispatch and the dense one-hot reference.
#include "paramkit/nn/moe.h"

#include <fmt/format.h>

#include <cmath>

#include "paramkit/core/error.h"

namespace paramkit::nn {

namespace F = torch::nn::functional;

namespace {
// Weights N(0, 0.02^2), biases 0 (ViT's initialisation), the same for a dense FFN and the experts.
void init_linear(torch::nn::Linear& l) {
  torch::NoGradGuard g;
  l->weight.normal_(0, 0.02);
  if (l->bias.defined()) l->bias.zero_();
}
}  // namespace

FeedForwardImpl::FeedForwardImpl(int64_t dim, int64_t hidden) {
  fc1 = register_module("fc1", torch::nn::Linear(dim, hidden));
  fc2 = register_module("fc2", torch::nn::Linear(hidden, dim));
  init_linear(fc1);
  init_linear(fc2);
}

torch::Tensor FeedForwardImpl::forward(const torch::Tensor& x) { return fc2(torch::gelu(fc1(x))); }

void MoeOptions::validate() const {
  auto bad = [](const std::string& field, const std::string& why) { throw UsageError(fmt::format("MoE {}: {}", field, why)); };
  if (dim < 1 || hidden < 1) bad("dim/hidden", "must be positive");
  if (experts < 1 || experts > 4096) bad("experts", fmt::format("{} is outside [1, 4096]", experts));
  if (top_k < 1 || top_k > experts) bad("top_k", fmt::format("{} is outside [1, experts = {}]", top_k, experts));
  for (double cf : {capacity_factor, eval_capacity_factor})
    if (!std::isfinite(cf) || cf < 0 || cf > 1e4) bad("capacity factor", fmt::format("{} is outside [0, 1e4] (0: no limit)", cf));
  if (!std::isfinite(noise_std) || noise_std > 1e3) bad("noise_std", "must be finite and at most 1e3 (< 0: 1/experts)");
  if (!std::isfinite(balance_alpha) || balance_alpha < 0 || balance_alpha > 1e3) bad("balance_alpha", "must be in [0, 1e3]");
}

int64_t expert_capacity(int64_t tokens, double cf, int64_t top_k, int64_t experts) {
  if (cf <= 0) return tokens;
  const double c = std::floor(static_cast<double>(tokens) * cf * static_cast<double>(top_k) / static_cast<double>(experts));
  return std::max<int64_t>(1, static_cast<int64_t>(std::min(c, static_cast<double>(tokens))));
}

Routing route_tokens(const torch::Tensor& logits, int64_t top_k, int64_t capacity) {
  Routing r;
  const int64_t experts = logits.size(1);
  // float32 at least (half-precision logits), double kept
  r.probs = torch::softmax(logits.scalar_type() == torch::kDouble ? logits : logits.to(torch::kFloat32), 1);
  auto [gate, expert] = r.probs.topk(top_k, 1);
  r.gate = gate;
  r.expert = expert;
  r.capacity = capacity;
  // Slot of each (token, choice): the number of pairs already in its expert, choice by choice and in
  // token order within a choice. An exclusive cumulative sum over one-hot rows: O(T E) integer adds,
  // no expert compute.
  torch::NoGradGuard g;
  torch::Tensor filled = torch::zeros({experts}, expert.options());
  std::vector<torch::Tensor> pos;
  for (int64_t j = 0; j < top_k; ++j) {
    const torch::Tensor e = expert.select(1, j);
    const torch::Tensor oh = F::one_hot(e, experts);  // [T, E] int64
    const torch::Tensor before = oh.cumsum(0) - oh + filled;
    pos.push_back(before.gather(1, e.unsqueeze(1)).squeeze(1));
    filled = filled + oh.sum(0);
  }
  r.position = torch::stack(pos, 1);
  r.kept = r.position < capacity;
  return r;
}

torch::Tensor balance_loss(const Routing& r, double alpha) {
  const int64_t experts = r.probs.size(1);
  const torch::Tensor f = F::one_hot(r.expert.select(1, 0), experts).to(r.probs.scalar_type()).mean(0);
  const torch::Tensor p = r.probs.mean(0);
  return alpha * static_cast<double>(experts) * (f * p).sum();
}

MoeImpl::MoeImpl(const MoeOptions& o) : o_(o) {
  o_.validate();
  router = register_module("router", torch::nn::Linear(torch::nn::LinearOptions(o.dim, o.experts).bias(false)));
  init_linear(router);
  torch::NoGradGuard g;
  w1 = register_parameter("w1", torch::empty({o.experts, o.dim, o.hidden}).normal_(0, 0.02));
  b1 = register_parameter("b1", torch::zeros({o.experts, o.hidden}));
  w2 = register_parameter("w2", torch::empty({o.experts, o.hidden, o.dim}).normal_(0, 0.02));
  b2 = register_parameter("b2", torch::zeros({o.experts, o.dim}));
}

Routing MoeImpl::route(const torch::Tensor& x) {
  torch::Tensor logits = router(x);
  const double noise = o_.noise_std < 0 ? 1.0 / static_cast<double>(o_.experts) : o_.noise_std;
  if (is_training() && noise > 0) logits = logits + torch::randn_like(logits) * noise;
  const double cf = is_training() ? o_.capacity_factor : o_.eval_capacity_factor;
  return route_tokens(logits, o_.top_k, expert_capacity(x.size(0), cf, o_.top_k, o_.experts));
}

RouterStats MoeImpl::stats_of(const Routing& r, const torch::Tensor& balance) const {
  RouterStats s;
  s.tokens = r.expert.size(0);
  s.capacity = r.capacity;
  const double pairs = static_cast<double>(r.expert.numel());
  torch::NoGradGuard g;
  const torch::Tensor kept_e = r.expert.masked_select(r.kept);
  const torch::Tensor counts = torch::bincount(kept_e.cpu(), {}, o_.experts);
  const int64_t kept = kept_e.numel();
  for (int64_t e = 0; e < o_.experts; ++e) s.load.push_back(pairs > 0 ? static_cast<double>(counts[e].item<int64_t>()) / pairs : 0.0);
  s.dropped = pairs > 0 ? 1.0 - static_cast<double>(kept) / pairs : 0.0;
  s.balance = balance.item<double>();
  return s;
}

MoeOutput MoeImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 2 && x.size(1) == o_.dim, "MoE input must be [T, ", o_.dim, "]");
  const Routing r = route(x);
  MoeOutput out;
  out.balance = balance_loss(r, o_.balance_alpha);
  // Kept pairs sorted by expert: one stable sort, then a contiguous slice per expert.
  torch::Tensor flat_kept, token, choice, counts;
  {
    torch::NoGradGuard g;
    flat_kept = r.kept.reshape(-1).nonzero().squeeze(1);  // pair index t*k + j
    const torch::Tensor e = r.expert.reshape(-1).index_select(0, flat_kept);
    auto [sorted_e, order] = e.sort(/*stable=*/true, 0, false);
    flat_kept = flat_kept.index_select(0, order);
    token = flat_kept.div(o_.top_k, "floor");
    counts = torch::bincount(sorted_e.cpu(), {}, o_.experts);
  }
  const torch::Tensor gates = r.gate.reshape(-1).index_select(0, flat_kept).to(x.scalar_type()).unsqueeze(1);
  const torch::Tensor rows = x.index_select(0, token);
  std::vector<torch::Tensor> outs;
  int64_t start = 0;
  const int64_t* c = counts.data_ptr<int64_t>();
  // unbind, not w1[e]: the backward of one select per expert would zero a full [E, d, h] gradient each.
  const std::vector<torch::Tensor> W1 = w1.unbind(0), B1 = b1.unbind(0), W2 = w2.unbind(0), B2 = b2.unbind(0);
  for (int64_t e = 0; e < o_.experts; ++e) {
    if (c[e] == 0) continue;
    const torch::Tensor xe = rows.slice(0, start, start + c[e]);
    const torch::Tensor h = torch::gelu(torch::addmm(B1[e], xe, W1[e]));
    outs.push_back(torch::addmm(B2[e], h, W2[e]));
    start += c[e];
  }
  out.y = torch::zeros_like(x);
  if (!outs.empty()) out.y = out.y.index_add(0, token, torch::cat(outs, 0) * gates);
  out.stats = stats_of(r, out.balance);
  return out;
}

MoeOutput MoeImpl::forward_dense(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 2 && x.size(1) == o_.dim, "MoE input must be [T, ", o_.dim, "]");
  const Routing r = route(x);
  MoeOutput out;
  out.balance = balance_loss(r, o_.balance_alpha);
  const int64_t T = x.size(0), E = o_.experts, C = r.capacity;
  // dispatch[t, e, c] = 1 when a kept choice of t puts it in slot c of expert e; combine = dispatch x gate.
  torch::Tensor dispatch = torch::zeros({T, E, C}, x.options());
  torch::Tensor combine = torch::zeros({T, E, C}, x.options());
  for (int64_t j = 0; j < o_.top_k; ++j) {
    const torch::Tensor keep = r.kept.select(1, j).to(x.scalar_type());
    const torch::Tensor oh_e = F::one_hot(r.expert.select(1, j), E).to(x.scalar_type());                         // [T, E]
    const torch::Tensor oh_c = F::one_hot(r.position.select(1, j).clamp_max(C - 1), C).to(x.scalar_type());    // [T, C]
    const torch::Tensor d = oh_e.unsqueeze(2) * oh_c.unsqueeze(1) * keep.view({T, 1, 1});
    dispatch = dispatch + d;
    combine = combine + d * r.gate.select(1, j).to(x.scalar_type()).view({T, 1, 1});
  }
  const torch::Tensor xin = torch::einsum("tec,td->ecd", {dispatch, x});           // [E, C, d]
  const torch::Tensor h = torch::gelu(torch::bmm(xin, w1) + b1.unsqueeze(1));        // [E, C, h]
  const torch::Tensor eo = torch::bmm(h, w2) + b2.unsqueeze(1);                       // [E, C, d]
  out.y = torch::einsum("tec,ecd->td", {combine, eo});
  out.stats = stats_of(r, out.balance);
  return out;
}

}  // namespace paramkit::nn
