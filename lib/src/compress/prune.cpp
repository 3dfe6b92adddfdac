#include "paramkit/compress/prune.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "paramkit/compress/rps.h"
#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"

namespace paramkit::compress {

Pruner parse_pruner(const std::string& name, const std::string& flag) {
  if (name == "mag") return Pruner::mag;
  if (name == "snip") return Pruner::snip;
  if (name == "grasp") return Pruner::grasp;
  if (name == "synflow") return Pruner::synflow;
  throw UsageError(flag + ": expected mag, snip, grasp or synflow, got '" + name + "'");
}

const char* pruner_name(Pruner p) {
  return p == Pruner::mag ? "mag" : p == Pruner::snip ? "snip" : p == Pruner::grasp ? "grasp" : "synflow";
}

std::vector<std::pair<std::string, torch::Tensor>> prunable(torch::nn::Module& module) {
  std::vector<std::pair<std::string, torch::Tensor>> w;
  for (const auto& p : module.named_parameters())
    if (is_shared_weight(p.key(), p.value())) w.emplace_back(p.key(), p.value());
  if (w.empty()) throw UsageError("the model has no weight matrices or kernels to prune");
  return w;
}

std::vector<torch::Tensor> score_magnitude(torch::nn::Module& module) {
  std::vector<torch::Tensor> s;
  for (auto& [name, w] : prunable(module)) s.push_back(w.detach().abs().to(torch::kCPU, torch::kFloat32));
  return s;
}

namespace {
void zero_grads(torch::nn::Module& module) {
  for (auto& p : module.parameters())
    if (p.grad().defined()) p.mutable_grad().reset();
}
}  // namespace

std::vector<torch::Tensor> score_snip(torch::nn::Module& module, const Forward& forward, const torch::Tensor& x, const torch::Tensor& y) {
  zero_grads(module);
  torch::nn::functional::cross_entropy(forward(x), y).backward();
  std::vector<torch::Tensor> s;
  for (auto& [name, w] : prunable(module))
    s.push_back(w.grad().defined() ? (w.grad() * w.detach()).abs().to(torch::kCPU, torch::kFloat32) : torch::zeros_like(w, torch::kFloat32));
  zero_grads(module);
  return s;
}

std::vector<torch::Tensor> score_grasp(torch::nn::Module& module, const Forward& forward, const torch::Tensor& x, const torch::Tensor& y) {
  auto weights = prunable(module);
  std::vector<torch::Tensor> ws;
  for (auto& [name, w] : weights) ws.push_back(w);
  // g without a graph, then d(g_f . g)/dtheta = H g with one more backward pass
  auto g = torch::autograd::grad({torch::nn::functional::cross_entropy(forward(x), y)}, ws);
  for (auto& t : g) t = t.detach();
  auto gf = torch::autograd::grad({torch::nn::functional::cross_entropy(forward(x), y)}, ws, {}, true, true);
  torch::Tensor z = torch::zeros({}, ws[0].options());
  for (size_t i = 0; i < ws.size(); ++i) z = z + (gf[i] * g[i]).sum();
  auto hg = torch::autograd::grad({z}, ws, {}, false, false, true);
  std::vector<torch::Tensor> s;
  for (size_t i = 0; i < ws.size(); ++i)
    s.push_back(hg[i].defined() ? (hg[i] * ws[i].detach()).to(torch::kCPU, torch::kFloat32) : torch::zeros_like(ws[i], torch::kFloat32));
  zero_grads(module);
  return s;
}

std::vector<torch::Tensor> score_synflow(torch::nn::Module& module, const Forward& forward, const std::vector<int64_t>& input_shape) {
  // Linearise: every parameter by its absolute value (signs kept to restore), the network on an
  // all-ones input in double precision (the product of many weights underflows float32), R = sum of
  // the outputs.
  const bool was_training = module.is_training();
  module.eval();
  std::vector<torch::Tensor> params = module.parameters(), saved, buffers = module.buffers(), saved_buffers;
  {
    torch::NoGradGuard g;
    for (auto& p : params) {
      saved.push_back(p.detach().clone());
      p.set_data(p.detach().abs().to(torch::kFloat64));
    }
    // Batch norm's running statistics join the double-precision pass (as they are: mean 0, var 1 at init).
    for (auto& b : buffers) {
      saved_buffers.push_back(b.detach().clone());
      if (b.is_floating_point()) b.set_data(b.detach().to(torch::kFloat64));
    }
  }
  std::vector<int64_t> shape = {1};
  shape.insert(shape.end(), input_shape.begin(), input_shape.end());
  zero_grads(module);
  const torch::Tensor ones = torch::ones(shape, torch::TensorOptions().dtype(torch::kFloat64).device(params[0].device()));
  forward(ones).sum().backward();
  std::vector<torch::Tensor> s;
  for (auto& [name, w] : prunable(module))
    s.push_back(w.grad().defined() ? (w.grad() * w.detach()).abs().to(torch::kCPU, torch::kFloat32) : torch::zeros_like(w, torch::kFloat32));
  zero_grads(module);
  {
    torch::NoGradGuard g;
    for (size_t i = 0; i < params.size(); ++i) params[i].set_data(saved[i]);
    for (size_t i = 0; i < buffers.size(); ++i) buffers[i].set_data(saved_buffers[i]);
  }
  if (was_training) module.train();
  return s;
}

std::vector<torch::Tensor> top_masks(const std::vector<torch::Tensor>& scores, int64_t keep) {
  int64_t total = 0;
  for (const auto& s : scores) total += s.numel();
  if (keep < 1 || keep > total) throw UsageError(fmt::format("pruning: keep 1 to {} weights, asked for {}", total, keep));
  std::vector<torch::Tensor> flat;
  for (const auto& s : scores) flat.push_back(s.reshape(-1).to(torch::kFloat64));
  const torch::Tensor all = torch::cat(flat).contiguous();
  const double* a = all.data_ptr<double>();
  std::vector<int64_t> order(static_cast<size_t>(total));
  std::iota(order.begin(), order.end(), 0);
  // highest first; NaN scores last; ties by position
  std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) {
    const bool ni = std::isnan(a[i]), nj = std::isnan(a[j]);
    if (ni != nj) return nj;
    return a[i] > a[j];
  });
  torch::Tensor keepmask = torch::zeros({total}, torch::kFloat32);
  float* k = keepmask.data_ptr<float>();
  for (int64_t i = 0; i < keep; ++i) k[order[i]] = 1;
  std::vector<torch::Tensor> masks;
  int64_t off = 0;
  for (const auto& s : scores) {
    masks.push_back(keepmask.slice(0, off, off + s.numel()).reshape(s.sizes()).clone());
    off += s.numel();
  }
  return masks;
}

std::vector<torch::Tensor> prune_masks(torch::nn::Module& module, const Forward& forward, Pruner pruner, int64_t keep,
                                       const torch::Tensor& x, const torch::Tensor& y, int rounds) {
  auto weights = prunable(module);
  int64_t total = 0;
  for (auto& [n, w] : weights) total += w.numel();
  if (keep < 1 || keep > total) throw UsageError(fmt::format("pruning: keep 1 to {} weights, asked for {}", total, keep));
  if (pruner != Pruner::synflow) {
    const auto s = pruner == Pruner::mag ? score_magnitude(module) : pruner == Pruner::snip ? score_snip(module, forward, x, y) : score_grasp(module, forward, x, y);
    return top_masks(s, keep);
  }
  // SynFlow: rounds of scoring with the masks so far applied, keeping (keep/total)^(k/rounds)
  std::vector<torch::Tensor> original, masks;
  for (auto& [n, w] : weights) {
    original.push_back(w.detach().clone());
    masks.push_back(torch::ones_like(w, torch::kFloat32));
  }
  std::vector<int64_t> input_shape(x.sizes().begin() + 1, x.sizes().end());
  const double fraction = static_cast<double>(keep) / static_cast<double>(total);
  for (int k = 1; k <= std::max(1, rounds); ++k) {
    check_stop();
    {
      torch::NoGradGuard g;
      for (size_t i = 0; i < weights.size(); ++i) weights[i].second.copy_(original[i] * masks[i].to(original[i].device()));
    }
    const auto s = score_synflow(module, forward, input_shape);
    const int64_t keep_k = k == rounds ? keep : std::max<int64_t>(keep, std::llround(std::pow(fraction, static_cast<double>(k) / rounds) * total));
    // only weights still kept compete (pruned ones score 0 already, but ties at 0 must not revive them)
    std::vector<torch::Tensor> masked;
    for (size_t i = 0; i < s.size(); ++i) masked.push_back(torch::where(masks[i] > 0, s[i], torch::full_like(s[i], -1.0)));
    masks = top_masks(masked, keep_k);
  }
  torch::NoGradGuard g;
  for (size_t i = 0; i < weights.size(); ++i) weights[i].second.copy_(original[i]);
  return masks;
}

MaskedWeights::MaskedWeights(torch::nn::Module& module, std::vector<torch::Tensor> masks) : masks_(std::move(masks)) {
  weights_ = prunable(module);
  if (masks_.size() != weights_.size()) throw UsageError("pruning: one mask per prunable weight");
  for (size_t i = 0; i < masks_.size(); ++i) {
    if (!masks_[i].sizes().equals(weights_[i].second.sizes())) throw UsageError("pruning: mask shape differs from " + weights_[i].first);
    masks_[i] = masks_[i].to(weights_[i].second.device(), torch::kFloat32);
  }
  for (const auto& p : module.named_parameters()) params_.emplace_back(nn::checkpoint_name(p.key()), p.value());
  for (const auto& b : module.named_buffers()) buffers_.emplace_back(nn::checkpoint_name(b.key()), b.value());
}

void MaskedWeights::load() {
  torch::NoGradGuard g;
  for (size_t i = 0; i < masks_.size(); ++i) weights_[i].second.mul_(masks_[i]);
}

void MaskedWeights::backward() {
  for (size_t i = 0; i < masks_.size(); ++i)
    if (weights_[i].second.grad().defined()) weights_[i].second.mutable_grad().mul_(masks_[i]);
}

std::vector<std::pair<std::string, torch::Tensor>> MaskedWeights::trainable() { return params_; }
std::vector<std::pair<std::string, torch::Tensor>> MaskedWeights::state() { return buffers_; }

void MaskedWeights::set_masks(const std::vector<torch::Tensor>& masks) {
  if (masks.size() != masks_.size()) throw UsageError("pruning: one mask per prunable weight");
  torch::NoGradGuard g;
  for (size_t i = 0; i < masks.size(); ++i) masks_[i].copy_(masks[i]);
}

int64_t MaskedWeights::kept() const {
  int64_t n = 0;
  for (const auto& m : masks_) n += static_cast<int64_t>(m.sum().item<double>());
  return n;
}

}  // namespace paramkit::compress
