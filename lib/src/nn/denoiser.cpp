// Fourier embedding, MLP denoiser, EMA of weights.
#include "paramkit/nn/denoiser.h"

#include <fmt/format.h>

#include <cmath>

#include "paramkit/core/error.h"

namespace paramkit::nn {

FourierEmbeddingImpl::FourierEmbeddingImpl(int64_t channels, double scale) {
  if (channels < 2 || channels % 2 != 0) throw UsageError(fmt::format("Fourier embedding: {} channels (a positive even number)", channels));
  freqs = register_buffer("freqs", torch::randn({channels / 2}) * scale);
}

torch::Tensor FourierEmbeddingImpl::forward(const torch::Tensor& c) {
  const torch::Tensor a = c.to(freqs.dtype()).unsqueeze(1) * (2 * M_PI * freqs).unsqueeze(0);
  return torch::cat({a.cos(), a.sin()}, 1);
}

MlpDenoiserImpl::MlpDenoiserImpl(int64_t dim, std::vector<int64_t> hidden, int64_t embedding) {
  if (dim < 1 || hidden.empty()) throw UsageError("MLP denoiser: a positive dimension and at least one hidden layer");
  emb_ = register_module("emb", FourierEmbedding(embedding));
  emb1_ = register_module("emb1", torch::nn::Linear(embedding, embedding));
  emb2_ = register_module("emb2", torch::nn::Linear(embedding, embedding));
  int64_t in = dim;
  for (size_t i = 0; i < hidden.size(); ++i) {
    layers_.push_back(register_module(fmt::format("fc{}", i), torch::nn::Linear(in, hidden[i])));
    cond_.push_back(register_module(fmt::format("cond{}", i), torch::nn::Linear(embedding, hidden[i])));
    in = hidden[i];
  }
  out_ = register_module("out", torch::nn::Linear(in, dim));
  torch::NoGradGuard g;
  out_->weight.zero_();
  out_->bias.zero_();
}

torch::Tensor MlpDenoiserImpl::forward(const torch::Tensor& x, const torch::Tensor& c_noise) {
  const torch::Tensor e = torch::silu(emb2_(torch::silu(emb1_(emb_(c_noise)))));
  torch::Tensor h = x;
  for (size_t i = 0; i < layers_.size(); ++i) h = torch::silu(layers_[i](h) + cond_[i](e));
  return out_(h);
}

Ema::Ema(const torch::nn::Module& module, double decay) : decay_(decay) {
  if (!(decay >= 0 && decay < 1)) throw UsageError(fmt::format("EMA decay {} is outside [0, 1)", decay));
  for (const auto& p : module.parameters()) shadow_.push_back(p.detach().clone());
}

void Ema::update(const torch::nn::Module& module) {
  torch::NoGradGuard g;
  const auto params = module.parameters();
  for (size_t i = 0; i < params.size(); ++i) shadow_[i].mul_(decay_).add_(params[i].detach(), 1 - decay_);
}

void Ema::copy_to(torch::nn::Module& module) const {
  torch::NoGradGuard g;
  auto params = module.parameters();
  if (params.size() != shadow_.size()) throw Error("EMA: the module's parameters differ from the averaged one's");
  for (size_t i = 0; i < params.size(); ++i) params[i].copy_(shadow_[i]);
}

}  // namespace paramkit::nn
