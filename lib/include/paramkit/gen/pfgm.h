// PFGM++ (Xu et al., ICML 2023; reference code Newbeeer/pfgmpp, on NVIDIA's EDM): the perturbation kernel
// p_r(x | y) ~ (||x - y||^2 + r^2)^(-(N + D) / 2) with the alignment r = sigma sqrt(D) (D = infinity is
// exactly EDM's Gaussian), EDM's training distribution of sigma, loss weight and preconditioning, and
// EDM's samplers (Heun, Euler, stochastic churn) whose only change for finite D is the prior. Works with
// any denoiser, including the exact empirical one over a data set.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace paramkit::gen {

inline constexpr double kInfiniteD = std::numeric_limits<double>::infinity();

// Perturbed samples x = y + R u for a batch y [B, ...] (N = the numel of one row) at per-row sigma [B]:
// b ~ Beta(N/2, D/2), R = sigma sqrt(D) sqrt(b / (1 - b)), u uniform on the unit sphere; D infinite:
// x = y + sigma n, n ~ N(0, I). LibTorch's generator.
torch::Tensor perturb(const torch::Tensor& y, const torch::Tensor& sigma, double D);
// The same distribution as a multivariate Student t with D degrees of freedom and scale sigma:
// x = y + sigma g sqrt(D / chi2_D), g ~ N(0, I); D infinite: x = y + sigma g. The prior uses this form,
// so that D = inf and a very large D from the same generator state give nearby samples.
torch::Tensor perturb_student_t(const torch::Tensor& y, const torch::Tensor& sigma, double D);

// EDM's preconditioning at sigma (sigma_data 0.5): c_skip, c_out, c_in, c_noise = ln(sigma) / 4.
struct Precond {
  double c_skip = 0, c_out = 0, c_in = 0, c_noise = 0;
};
Precond edm_precond(double sigma, double sigma_data = 0.5);
// EDM's loss weight lambda(sigma) = (sigma^2 + sigma_data^2) / (sigma sigma_data)^2.
double edm_loss_weight(double sigma, double sigma_data = 0.5);
// Training sigmas: exp(P_mean + P_std n), n ~ N(0, 1) (EDM: -1.2, 1.2).
torch::Tensor training_sigmas(int64_t n, double p_mean = -1.2, double p_std = 1.2);

// EDM's time steps: t_i = (smax^(1/rho) + i/(n-1) (smin^(1/rho) - smax^(1/rho)))^rho for i < n, and
// t_n = 0 (n + 1 entries).
std::vector<double> edm_schedule(int64_t steps, double sigma_min = 0.002, double sigma_max = 80, double rho = 7);

// D(x, sigma) for a batch x [B, ...] at one sigma: the denoised estimate of the clean data.
using Denoiser = std::function<torch::Tensor(const torch::Tensor& x, double sigma)>;

struct SamplerOptions {
  int64_t steps = 18;
  double sigma_min = 0.002, sigma_max = 80, rho = 7;
  std::string method = "heun";  // heun | euler
  double churn = 0;             // EDM's S_churn (0: deterministic)
  double s_tmin = 0, s_tmax = std::numeric_limits<double>::infinity(), s_noise = 1;
  double D = kInfiniteD;
  void validate() const;        // UsageError naming the field
};

// Samples of `shape` ([B, ...]): the prior at sigma_max for D (perturb_student_t of zeros), then the
// ODE dx/dsigma = (x - D(x, sigma)) / sigma along the schedule (Heun: a second-order correction except on
// the last step to sigma = 0). LibTorch's generator.
torch::Tensor sample(const Denoiser& denoiser, const std::vector<int64_t>& shape, const SamplerOptions& options);

// The exact denoiser of the empirical distribution over `data` [M, ...] under the kernel: E[y | x] with
// weights ~ (||x - y_i||^2 + sigma^2 D)^(-(N + D)/2) (D infinite: exp(-||x - y_i||^2 / (2 sigma^2))).
torch::Tensor empirical_denoiser(const torch::Tensor& data, const torch::Tensor& x, double sigma, double D);

}  // namespace paramkit::gen
