// Self-Tuning Networks' layers, per-example dropout, perturbed hyperparameters.
#include "paramkit/nn/stn.h"

#include <cmath>

namespace paramkit::nn {

namespace {
torch::Tensor uniform(std::vector<int64_t> shape, double bound) { return torch::empty(shape).uniform_(-bound, bound); }
torch::nn::Linear make_gates(int64_t hypers, int64_t out) {
  torch::nn::Linear v(torch::nn::LinearOptions(hypers, 2 * out).bias(false));
  torch::NoGradGuard g;
  v->weight.normal_(0, 0.01);
  return v;
}
}  // namespace

StnLinearImpl::StnLinearImpl(int64_t in, int64_t out, int64_t hypers) {
  const double b = 1.0 / std::sqrt(static_cast<double>(in));
  weight = register_parameter("weight", uniform({out, in}, b));
  bias = register_parameter("bias", uniform({out}, b));
  response_weight = register_parameter("response_weight", uniform({out, in}, b));
  response_bias = register_parameter("response_bias", uniform({out}, b));
  scale = register_parameter("scale", torch::ones({}));
  gates = register_module("gates", make_gates(hypers, out));
}

torch::Tensor StnLinearImpl::forward(const torch::Tensor& x, const torch::Tensor& h) {
  torch::Tensor out = scale * torch::nn::functional::linear(x, weight, bias);
  if (!h.defined()) return out;
  const torch::Tensor g = gates(h);  // [B, 2 out]
  const int64_t n = weight.size(0);
  return out + g.slice(1, 0, n) * torch::nn::functional::linear(x, response_weight) + g.slice(1, n, 2 * n) * response_bias;
}

StnConv2dImpl::StnConv2dImpl(int64_t in, int64_t out, int64_t kernel, int64_t pad, int64_t hypers) : padding(pad) {
  const double b = 1.0 / std::sqrt(static_cast<double>(in * kernel * kernel));
  weight = register_parameter("weight", uniform({out, in, kernel, kernel}, b));
  bias = register_parameter("bias", uniform({out}, b));
  response_weight = register_parameter("response_weight", uniform({out, in, kernel, kernel}, b));
  response_bias = register_parameter("response_bias", uniform({out}, b));
  scale = register_parameter("scale", torch::ones({}));
  gates = register_module("gates", make_gates(hypers, out));
}

torch::Tensor StnConv2dImpl::forward(const torch::Tensor& x, const torch::Tensor& h) {
  torch::Tensor out = scale * torch::nn::functional::conv2d(x, weight, torch::nn::functional::Conv2dFuncOptions().padding(padding).bias(bias));
  if (!h.defined()) return out;
  const torch::Tensor g = gates(h).unsqueeze(2).unsqueeze(3);  // [B, 2 out, 1, 1]
  const int64_t n = weight.size(0);
  const torch::Tensor r = torch::nn::functional::conv2d(x, response_weight, torch::nn::functional::Conv2dFuncOptions().padding(padding));
  return out + g.slice(1, 0, n) * r + g.slice(1, n, 2 * n) * response_bias.view({1, n, 1, 1});
}

torch::Tensor dropout_per_example(const torch::Tensor& x, const torch::Tensor& p) {
  const torch::Tensor keep = (1 - p.detach()).to(x.dtype()).view({x.size(0), 1}).clamp_min(1e-6);
  const torch::Tensor flat = x.reshape({x.size(0), -1});
  const torch::Tensor mask = torch::bernoulli(keep.expand_as(flat));
  return (flat * mask / keep).view(x.sizes());
}

torch::Tensor channel_dropout_per_example(const torch::Tensor& x, const torch::Tensor& p) {
  const torch::Tensor keep = (1 - p.detach()).to(x.dtype()).view({x.size(0), 1}).clamp_min(1e-6);
  const torch::Tensor mask = torch::bernoulli(keep.expand({x.size(0), x.size(1)}));
  return x * (mask / keep).view({x.size(0), x.size(1), 1, 1});
}

HyperState::HyperState(const std::vector<double>& h0, double sigma0) {
  const std::vector<float> values(h0.begin(), h0.end());
  h = register_parameter("h", torch::tensor(values));
  // softplus^-1(sigma0) = log(exp(sigma0) - 1)
  sigma_raw = register_parameter("sigma_raw", torch::full({static_cast<int64_t>(h0.size())}, std::log(std::expm1(sigma0))));
}

torch::Tensor HyperState::perturb(int64_t rows) const {
  return h.unsqueeze(0) + torch::nn::functional::softplus(sigma_raw).unsqueeze(0) * torch::randn({rows, h.size(0)}, h.options());
}

torch::Tensor HyperState::entropy() const {
  return (torch::log(torch::nn::functional::softplus(sigma_raw)) + 0.5 * std::log(2 * M_PI * M_E)).sum();
}

}  // namespace paramkit::nn
