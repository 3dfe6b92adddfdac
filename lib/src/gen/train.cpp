// EDM-style denoiser training for PFGM++.
#include "paramkit/gen/train.h"

#include <fmt/format.h>

#include <cmath>

#include "paramkit/core/error.h"
#include "paramkit/nn/generated.h"
#include "paramkit/nn/optim.h"

namespace paramkit::gen {

namespace {
torch::Tensor rows(const torch::Tensor& v, const torch::Tensor& like) {
  std::vector<int64_t> shape(static_cast<size_t>(like.dim()), 1);
  shape[0] = like.size(0);
  return v.to(like.device(), like.scalar_type()).view(shape);
}
}  // namespace

torch::Tensor precondition(const RawNet& f, const torch::Tensor& x, const torch::Tensor& sigma, double sd) {
  const torch::Tensor s = sigma.to(torch::kFloat64), s2 = s * s + sd * sd;
  const torch::Tensor c_skip = sd * sd / s2, c_out = s * sd / s2.sqrt(), c_in = 1.0 / s2.sqrt(), c_noise = s.log() / 4;
  return rows(c_skip, x) * x + rows(c_out, x) * f(rows(c_in, x) * x, c_noise.to(x.dtype()));
}

Denoiser as_denoiser(const RawNet& f, double sd) {
  return [f, sd](const torch::Tensor& x, double sigma) {
    torch::NoGradGuard g;
    const torch::Tensor xf = x.to(torch::kFloat32);
    return precondition(f, xf, torch::full({x.size(0)}, sigma, torch::kFloat64), sd).to(torch::kFloat64);
  };
}

void DenoiserTrainOptions::validate() const {
  train.validate();
  if (!(D > 0)) throw UsageError(fmt::format("--D {} must be positive (inf: EDM)", D));
  if (!std::isfinite(p_mean) || !(p_std > 0) || !std::isfinite(p_std) || !(sigma_data > 0) || !std::isfinite(sigma_data))
    throw UsageError("training sigma distribution: need finite P_mean, positive P_std and sigma_data");
}

nn::TrainResult train_denoiser(torch::nn::Module& net, const RawNet& f, const torch::Tensor& data, const DenoiserTrainOptions& o, uint64_t seed,
                               nn::Ema* ema) {
  o.validate();
  if (data.size(0) == 0) throw InputError("training data", "", "no examples to train on");
  net.train();
  torch::nn::Module holder;
  for (const auto& p : net.named_parameters()) holder.register_parameter(nn::checkpoint_name("net." + p.key()), p.value());
  for (const auto& b : net.named_buffers()) holder.register_buffer(nn::checkpoint_name("net." + b.key()), b.value());
  if (ema)
    for (size_t i = 0; i < ema->shadow().size(); ++i) holder.register_buffer(fmt::format("ema{}", i), ema->shadow()[i]);
  auto optimizer = nn::make_optimizer(o.train.optimizer, net.parameters());
  return nn::train_steps(
      holder, *optimizer, data.size(0), o.train, seed, "train",
      [&](const std::vector<int64_t>& r, const TrainPosition&) {
        const torch::Tensor y = data.index_select(0, torch::tensor(r, torch::kInt64).to(data.device())).to(torch::kFloat32);
        const torch::Tensor sigma = training_sigmas(y.size(0), o.p_mean, o.p_std).to(y.device());
        const torch::Tensor x = perturb(y, sigma, o.D);
        const torch::Tensor s2 = sigma * sigma + o.sigma_data * o.sigma_data;
        const torch::Tensor weight = (s2 / (sigma * o.sigma_data).square()).to(torch::kFloat32);
        const torch::Tensor err = (precondition(f, x, sigma, o.sigma_data) - y).square().reshape({y.size(0), -1}).mean(1);
        const torch::Tensor loss = (weight * err).mean();
        loss.backward();
        return loss.item<double>();
      },
      [&](int64_t step, double) {
        if (ema) ema->update(net, step - 1);
      });
}

}  // namespace paramkit::gen
