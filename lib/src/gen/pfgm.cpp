// PFGM++ kernel, EDM's training distribution, preconditioning, schedule, samplers, empirical denoiser.
#include "paramkit/gen/pfgm.h"

#include <fmt/format.h>

#include <cmath>

#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"

namespace paramkit::gen {

namespace {
int64_t row_dim(const torch::Tensor& y) { return y.numel() / std::max<int64_t>(1, y.size(0)); }
torch::Tensor per_row(const torch::Tensor& v, const torch::Tensor& like) {
  std::vector<int64_t> shape(static_cast<size_t>(like.dim()), 1);
  shape[0] = like.size(0);
  return v.to(like.device(), like.scalar_type()).view(shape);
}
// Gamma(alpha, 1) draws, float64, from LibTorch's generator.
torch::Tensor gamma(int64_t n, double alpha) { return at::_standard_gamma(torch::full({n}, alpha, torch::kFloat64)); }
}  // namespace

torch::Tensor perturb(const torch::Tensor& y, const torch::Tensor& sigma, double D) {
  const int64_t B = y.size(0), N = row_dim(y);
  if (std::isinf(D)) return y + per_row(sigma, y) * torch::randn_like(y);
  const torch::Tensor a = gamma(B, N / 2.0), c = gamma(B, D / 2.0);
  const torch::Tensor ratio = (a / c).to(sigma.device());  // b / (1 - b) for b = a / (a + c) ~ Beta(N/2, D/2)
  const torch::Tensor R = sigma.to(torch::kFloat64) * std::sqrt(D) * ratio.sqrt();
  torch::Tensor u = torch::randn_like(y);
  u = u / u.reshape({B, -1}).norm(2, 1).clamp_min(1e-30).to(y.dtype()).view(per_row(R, y).sizes());
  return y + per_row(R, y) * u;
}

torch::Tensor perturb_student_t(const torch::Tensor& y, const torch::Tensor& sigma, double D) {
  const torch::Tensor g = torch::randn_like(y);
  if (std::isinf(D)) return y + per_row(sigma, y) * g;
  const torch::Tensor chi2 = (2.0 * gamma(y.size(0), D / 2.0)).to(sigma.device());  // chi-square with D degrees of freedom
  const torch::Tensor scale = sigma.to(torch::kFloat64) * (D / chi2).sqrt();
  return y + per_row(scale, y) * g;
}

Precond edm_precond(double sigma, double sd) {
  const double s2 = sigma * sigma + sd * sd;
  return {sd * sd / s2, sigma * sd / std::sqrt(s2), 1.0 / std::sqrt(s2), std::log(sigma) / 4.0};
}

double edm_loss_weight(double sigma, double sd) { return (sigma * sigma + sd * sd) / ((sigma * sd) * (sigma * sd)); }

torch::Tensor training_sigmas(int64_t n, double p_mean, double p_std) { return torch::exp(p_mean + p_std * torch::randn({n}, torch::kFloat64)); }

std::vector<double> edm_schedule(int64_t steps, double smin, double smax, double rho) {
  if (steps < 1) throw UsageError("sampler: at least one step");
  std::vector<double> t;
  for (int64_t i = 0; i < steps; ++i) {
    const double f = steps == 1 ? 0.0 : static_cast<double>(i) / static_cast<double>(steps - 1);
    t.push_back(std::pow(std::pow(smax, 1 / rho) + f * (std::pow(smin, 1 / rho) - std::pow(smax, 1 / rho)), rho));
  }
  t.push_back(0.0);
  return t;
}

void SamplerOptions::validate() const {
  auto bad = [](const std::string& f, const std::string& why) { throw UsageError(fmt::format("sampler {}: {}", f, why)); };
  if (steps < 1 || steps > 100000) bad("steps", fmt::format("{} is outside [1, 100000]", steps));
  if (!(sigma_min > 0) || !(sigma_max > sigma_min) || !std::isfinite(sigma_max) || sigma_max > 1e6)
    bad("sigma range", fmt::format("need 0 < sigma_min < sigma_max <= 1e6, got {} and {}", sigma_min, sigma_max));
  if (!(rho > 0) || !std::isfinite(rho) || rho > 1000) bad("rho", "must be in (0, 1000]");
  if (method != "heun" && method != "euler") bad("method", "'" + method + "': expected heun or euler");
  if (!(churn >= 0) || !std::isfinite(churn) || churn > 1e6) bad("churn", "must be in [0, 1e6]");
  if (!(s_noise > 0) || !std::isfinite(s_noise)) bad("s_noise", "must be positive");
  if (!(D > 0)) bad("D", fmt::format("{} must be positive (inf: EDM)", D));
}

torch::Tensor sample(const Denoiser& den, const std::vector<int64_t>& shape, const SamplerOptions& o) {
  o.validate();
  const std::vector<double> t = edm_schedule(o.steps, o.sigma_min, o.sigma_max, o.rho);
  torch::Tensor x = perturb_student_t(torch::zeros(shape, torch::kFloat64), torch::full({shape[0]}, t[0], torch::kFloat64), o.D);
  const double gamma_max = std::min(o.churn / static_cast<double>(o.steps), std::sqrt(2.0) - 1);
  for (int64_t i = 0; i < o.steps; ++i) {
    check_stop();
    double tc = t[i];
    const double tn = t[i + 1];
    if (o.churn > 0 && tc >= o.s_tmin && tc <= o.s_tmax) {  // EDM's stochastic churn: raise the noise level
      const double th = tc * (1 + gamma_max);
      x = x + std::sqrt(th * th - tc * tc) * o.s_noise * torch::randn_like(x);
      tc = th;
    }
    const torch::Tensor d = (x - den(x, tc).to(torch::kFloat64)) / tc;
    torch::Tensor next = x + (tn - tc) * d;
    if (o.method == "heun" && tn > 0) {
      const torch::Tensor d2 = (next - den(next, tn).to(torch::kFloat64)) / tn;
      next = x + (tn - tc) * 0.5 * (d + d2);
    }
    x = next;
  }
  return x;
}

torch::Tensor empirical_denoiser(const torch::Tensor& data, const torch::Tensor& x, double sigma, double D) {
  const int64_t B = x.size(0), M = data.size(0), N = row_dim(x);
  const torch::Tensor xf = x.reshape({B, -1}).to(torch::kFloat64), yf = data.reshape({M, -1}).to(torch::kFloat64);
  const torch::Tensor d2 = torch::cdist(xf, yf).square();  // [B, M]
  const torch::Tensor logw = std::isinf(D) ? -d2 / (2 * sigma * sigma) : -0.5 * (N + D) * torch::log(d2 + sigma * sigma * D);
  const torch::Tensor w = torch::softmax(logw, 1);
  return torch::mm(w, yf).view(x.sizes());
}

}  // namespace paramkit::gen
