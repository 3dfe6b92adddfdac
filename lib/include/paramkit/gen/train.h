// EDM-style training of a denoiser for PFGM++ (any D): sigma ~ exp(P_mean + P_std n), y perturbed by the
// PFGM++ kernel at sigma, loss lambda(sigma) ||D(x, sigma) - y||^2 with EDM's preconditioning
// D(x, sigma) = c_skip x + c_out F(c_in x, c_noise), on the shared step loop (checkpoints, resume, the EMA
// of the weights in the checkpoint).
#pragma once
#include <torch/torch.h>

#include <functional>

#include "paramkit/gen/pfgm.h"
#include "paramkit/nn/denoiser.h"
#include "paramkit/nn/train.h"

namespace paramkit::gen {

// F(x, c_noise): x [B, ...], c_noise [B].
using RawNet = std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& c_noise)>;
// D(x, sigma) with per-row sigma [B].
torch::Tensor precondition(const RawNet& f, const torch::Tensor& x, const torch::Tensor& sigma, double sigma_data = 0.5);
// The sampler's denoiser of a network (at one sigma for the whole batch), in eval mode, no gradients.
Denoiser as_denoiser(const RawNet& f, double sigma_data = 0.5);

struct DenoiserTrainOptions {
  nn::TrainOptions train;
  double D = kInfiniteD;
  double p_mean = -1.2, p_std = 1.2, sigma_data = 0.5;
  void validate() const;
};

// Trains `net` (whose forward is f) on data [M, ...]; `ema` (optional) is updated after every step and
// saved in the checkpoint with the network.
nn::TrainResult train_denoiser(torch::nn::Module& net, const RawNet& f, const torch::Tensor& data, const DenoiserTrainOptions& options,
                               uint64_t seed, nn::Ema* ema = nullptr);

}  // namespace paramkit::gen
