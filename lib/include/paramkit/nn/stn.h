// Self-Tuning Networks' layers (MacKay et al., ICLR 2019; reference code asteroidhouse/self-tuning-networks):
// the structured best-response W(h) = W_e + diag(V_w h) W_h, b(h) = b_e + (V_b h) o b_h, one row of h per
// example, and what drives regularisation per example (dropout with a rate per row), and the perturbed
// hyperparameters with their entropy.
#pragma once
#include <torch/torch.h>

#include <cstdint>

namespace paramkit::nn {

// out = s (W_e x + b_e) + (V_w h) o (W_h x) + (V_b h) o b_h, [V_w; V_b] = V (bias-free, H -> 2 out,
// N(0, 0.01^2)), s a learned scalar starting at 1 (the reference code's elem_scalar); W_e, W_h, b_e, b_h
// uniform in +-1/sqrt(fan_in). Without h (undefined) only the general path s (W_e x + b_e) runs.
class StnLinearImpl : public torch::nn::Module {
 public:
  StnLinearImpl(int64_t in, int64_t out, int64_t hypers);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& h = {});
  torch::Tensor weight, bias, response_weight, response_bias, scale;
  torch::nn::Linear gates{nullptr};  // V
};
TORCH_MODULE(StnLinear);

// The same for a convolution (stride 1, `padding`), with one gate per output channel.
class StnConv2dImpl : public torch::nn::Module {
 public:
  StnConv2dImpl(int64_t in, int64_t out, int64_t kernel, int64_t padding, int64_t hypers);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& h = {});
  torch::Tensor weight, bias, response_weight, response_bias, scale;
  torch::nn::Linear gates{nullptr};
  int64_t padding = 0;
};
TORCH_MODULE(StnConv2d);

// Inverted dropout with a rate per example: x [B, ...], p [B] in [0, 1) (detached: no gradient reaches
// the rates). element: a mask per element; channel: one per (example, channel) of x [B, C, H, W].
torch::Tensor dropout_per_example(const torch::Tensor& x, const torch::Tensor& p);
torch::Tensor channel_dropout_per_example(const torch::Tensor& x, const torch::Tensor& p);

// The hyperparameters as trainable tensors: h (H, unconstrained) and sigma_raw (H), the perturbation
// scale being softplus(sigma_raw).
struct HyperState : torch::nn::Module {
  HyperState(const std::vector<double>& h0, double sigma0);
  torch::Tensor h, sigma_raw;
  // h~ = h + softplus(sigma_raw) o eps, eps ~ N(0, I): [rows, H] (LibTorch's generator).
  torch::Tensor perturb(int64_t rows) const;
  // sum_i log(softplus(sigma_raw_i) sqrt(2 pi e)): the entropy of the perturbation.
  torch::Tensor entropy() const;
};

}  // namespace paramkit::nn
