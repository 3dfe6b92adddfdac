// Parametric drifts, Euler-Maruyama, least-squares reference fits.
#include "paramkit/sb/drift.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include <cmath>

#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"

namespace paramkit::sb {

std::vector<std::string> DriftClass::names() const {
  if (kind == "lv") return {"alpha", "beta", "delta", "gamma"};
  if (kind == "repressilator") return {"beta", "n", "k", "gamma"};
  if (kind == "spring") return {"k"};
  std::vector<std::string> n;
  if (kind == "linear") {
    for (int64_t i = 0; i < dim; ++i)
      for (int64_t j = 0; j < dim; ++j) n.push_back(fmt::format("a{}{}", i + 1, j + 1));
    for (int64_t i = 0; i < dim; ++i) n.push_back(fmt::format("b{}", i + 1));
  } else if (kind == "potential") {
    for (int64_t i = 0; i < hidden * dim + 2 * hidden; ++i) n.push_back(fmt::format("u{}", i));
  }
  return n;
}

int64_t DriftClass::parameters() const { return static_cast<int64_t>(names().size()); }
bool DriftClass::linear_in_theta() const { return kind != "repressilator" && kind != "potential"; }

void DriftClass::validate() const {
  if (kind != "brownian" && kind != "lv" && kind != "repressilator" && kind != "linear" && kind != "spring" && kind != "potential")
    throw UsageError(fmt::format("reference '{}': expected brownian, lv, repressilator, linear, spring or potential", kind));
  if (dim < 1 || dim > 1024) throw UsageError(fmt::format("drift: dimension {} is outside [1, 1024]", dim));
  if (kind == "lv" && dim != 2) throw UsageError(fmt::format("reference lv: the data must be 2-dimensional (got {})", dim));
  if (kind == "repressilator" && dim != 3) throw UsageError(fmt::format("reference repressilator: the data must be 3-dimensional (got {})", dim));
  if (hidden < 1 || hidden > 4096) throw UsageError("--potential-hidden is outside [1, 4096]");
}

std::vector<double> DriftClass::default_theta(uint64_t seed) const {
  if (kind == "lv") return {0.5, 0.5, 0.5, 0.5};
  if (kind == "repressilator") return {5, 2, 1.5, 0.5};
  if (kind == "spring") return {1};
  if (kind == "potential") {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed + 17);
    const torch::Tensor t = at::normal(0.0, 0.3, {parameters()}, gen, torch::TensorOptions().dtype(torch::kFloat64));
    return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
  }
  return std::vector<double>(static_cast<size_t>(parameters()), 0.0);
}

torch::Tensor drift(const DriftClass& c, const torch::Tensor& th, const torch::Tensor& x) {
  if (c.kind == "brownian") return torch::zeros_like(x);
  if (c.kind == "lv") {
    const torch::Tensor a = x.select(1, 0), b = x.select(1, 1);
    return torch::stack({th[0] * a - th[1] * a * b, th[2] * a * b - th[3] * b}, 1);
  }
  if (c.kind == "repressilator") {
    const torch::Tensor prev = torch::roll(x, 1, 1);  // x_{i-1}, cyclic
    return th[0] / (1 + torch::pow(torch::relu(prev) / th[2], th[1])) - th[3] * x;
  }
  if (c.kind == "spring") return -th[0] * x;
  const int64_t d = c.dim;
  if (c.kind == "linear") return torch::matmul(x, th.narrow(0, 0, d * d).view({d, d}).t()) + th.narrow(0, d * d, d);
  // potential: U = w2 . tanh(W1 x + b1), f = -grad U = -W1^T (w2 * (1 - tanh^2))
  const int64_t h = c.hidden;
  const torch::Tensor W1 = th.narrow(0, 0, h * d).view({h, d}), b1 = th.narrow(0, h * d, h), w2 = th.narrow(0, h * d + h, h);
  const torch::Tensor a = torch::tanh(torch::matmul(x, W1.t()) + b1);
  return -torch::matmul(w2 * (1 - a * a), W1);
}

Path simulate(const DriftClass& c, const torch::Tensor& theta, const torch::Tensor& x0, double t0, double t1, double dt, double sigma,
              at::Generator gen) {
  if (!(t1 > t0) || !(dt > 0)) throw UsageError("simulate: need t1 > t0 and dt > 0");
  const int64_t steps = std::max<int64_t>(1, static_cast<int64_t>(std::ceil((t1 - t0) / dt - 1e-9)));
  if (steps > 10000000) throw UsageError("simulate: more than 1e7 steps");
  const double h = (t1 - t0) / static_cast<double>(steps);
  Path p;
  std::vector<torch::Tensor> xs = {x0.to(torch::kFloat64)};
  p.t.push_back(t0);
  torch::NoGradGuard g;
  for (int64_t i = 0; i < steps; ++i) {
    if ((i & 15) == 0) check_stop();
    const torch::Tensor& x = xs.back();
    const torch::Tensor eps = at::normal(0.0, 1.0, x.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat64));
    xs.push_back(x + drift(c, theta, x) * h + sigma * std::sqrt(h) * eps);
    p.t.push_back(t0 + h * static_cast<double>(i + 1));
  }
  p.x = torch::stack(xs);
  return p;
}

Snapshots simulate_snapshots(const DriftClass& c, const std::vector<double>& theta, const std::vector<double>& x0_mean, double x0_sd,
                             const std::vector<double>& times, int64_t n, double sigma, double dt, uint64_t seed) {
  c.validate();
  if (static_cast<int64_t>(theta.size()) != c.parameters())
    throw UsageError(fmt::format("--params: {} values for the {} parameters of {} ({})", theta.size(), c.parameters(), c.kind, fmt::join(c.names(), ", ")));
  if (static_cast<int64_t>(x0_mean.size()) != c.dim) throw UsageError(fmt::format("--x0: {} values for {} dimensions", x0_mean.size(), c.dim));
  if (times.empty()) throw UsageError("--times: at least one time");
  for (size_t k = 1; k < times.size(); ++k)
    if (!(times[k] > times[k - 1])) throw UsageError(fmt::format("--times must increase strictly ({} after {})", times[k], times[k - 1]));
  if (n < 2 || n > 10000000) throw UsageError("-n is outside [2, 1e7]");
  if (!(x0_sd >= 0) || !std::isfinite(x0_sd)) throw UsageError("--x0-sd must be finite and >= 0");
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const torch::Tensor th = torch::tensor(theta, torch::kFloat64);
  torch::Tensor x = torch::tensor(x0_mean, torch::kFloat64).view({1, -1}) +
                    x0_sd * at::normal(0.0, 1.0, {n, c.dim}, gen, torch::TensorOptions().dtype(torch::kFloat64));
  Snapshots s;
  s.times.push_back(times[0]);
  s.x.push_back(x);
  for (size_t k = 1; k < times.size(); ++k) {
    x = simulate(c, th, x, times[k - 1], times[k], dt, sigma, gen).x[-1];
    if (!torch::isfinite(x).all().item<bool>()) throw Error(fmt::format("simulate: the system diverged before t = {} (smaller --dt or other parameters)", times[k]));
    s.times.push_back(times[k]);
    s.x.push_back(x);
  }
  return s;
}

torch::Tensor fit_theta(const DriftClass& c, const torch::Tensor& x, const torch::Tensor& x_next, const torch::Tensor& dt,
                        const torch::Tensor& start, int64_t iters) {
  const int64_t P = c.parameters();
  if (P == 0) return torch::zeros({0}, torch::kFloat64);
  if (x.size(0) < 2) throw UsageError("reference fit: fewer than 2 transitions");
  const torch::Tensor dx = x_next - x, h = dt.to(torch::kFloat64).view({-1, 1});
  if (c.linear_in_theta()) {
    // f(x; theta) = Phi(x) theta: the columns of Phi are f at the unit vectors.
    std::vector<torch::Tensor> cols;
    for (int64_t j = 0; j < P; ++j) cols.push_back(drift(c, torch::one_hot(torch::tensor(j), P).to(torch::kFloat64), x) * h);
    const torch::Tensor Phi = torch::stack(cols, 2);  // [M, d, P]
    const torch::Tensor A = torch::einsum("mdp,mdq->pq", {Phi, Phi}), b = torch::einsum("mdp,md->p", {Phi, dx});
    const double ridge = 1e-9 * (A.trace().item<double>() / static_cast<double>(P) + 1e-300);
    return torch::linalg::solve(A + ridge * torch::eye(P, torch::kFloat64), b, true);
  }
  const bool logscale = c.kind == "repressilator";
  torch::Tensor v = (logscale ? start.clamp_min(1e-6).log() : start.clone()).detach().requires_grad_(true);
  torch::optim::Adam opt({v}, torch::optim::AdamOptions(0.01));
  const double scale = 1.0 / (dx.square().mean().item<double>() + 1e-300);
  for (int64_t i = 0; i < iters; ++i) {
    if ((i & 31) == 0) check_stop();
    opt.zero_grad();
    const torch::Tensor th = logscale ? v.exp() : v;
    const torch::Tensor loss = (dx - drift(c, th, x) * h).square().mean() * scale;
    loss.backward();
    opt.step();
  }
  torch::NoGradGuard g;
  return (logscale ? v.exp() : v).detach().clone();
}

}  // namespace paramkit::sb
