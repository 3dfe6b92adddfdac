// Drift regressors: random-Fourier-feature and exact Gaussian processes, a small MLP.
#include "paramkit/sb/regress.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include <cmath>

#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"

namespace paramkit::sb {

void RegressorOptions::validate() const {
  if (kind != "rff" && kind != "gp" && kind != "mlp") throw UsageError(fmt::format("--regressor '{}': expected rff, gp or mlp", kind));
  if (features < 1 || features > 100000) throw UsageError("--features is outside [1, 100000]");
  if (!(noise > 0) || !std::isfinite(noise) || noise > 1e6) throw UsageError("--gp-noise must be in (0, 1e6]");
  if (!(lengthscale >= 0) || !std::isfinite(lengthscale) || lengthscale > 1e6) throw UsageError("--lengthscale must be in [0, 1e6]");
  if (max_points < 10 || max_points > 10000000) throw UsageError("--max-points is outside [10, 1e7]");
  if (hidden < 1 || hidden > 65536 || steps < 1 || steps > 10000000) throw UsageError("--mlp-hidden / --mlp-steps out of range");
}

namespace {
// Standardisation of inputs and outputs, and a seeded subset of at most k rows.
struct Scaler {
  torch::Tensor mean, sd;
  void fit(const torch::Tensor& v) {
    mean = v.mean(0);
    sd = v.size(0) > 1 ? v.std(0).clamp_min(1e-12) : torch::ones_like(mean);
  }
  torch::Tensor apply(const torch::Tensor& v) const { return (v - mean) / sd; }
  torch::Tensor invert(const torch::Tensor& v) const { return v * sd + mean; }
};
void subset(const torch::Tensor& z, const torch::Tensor& y, int64_t k, uint64_t seed, torch::Tensor& zs, torch::Tensor& ys) {
  if (z.size(0) <= k) {
    zs = z;
    ys = y;
    return;
  }
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const torch::Tensor idx = at::randperm(z.size(0), gen, torch::kInt64).narrow(0, 0, k);
  zs = z.index_select(0, idx);
  ys = y.index_select(0, idx);
}
double median_distance(const torch::Tensor& z, uint64_t seed) {
  torch::Tensor zs, unused;
  subset(z, z, 500, seed + 1, zs, unused);
  const torch::Tensor d = torch::cdist(zs, zs);
  const torch::Tensor off = d.masked_select(~torch::eye(zs.size(0), torch::kBool));
  const double m = off.numel() > 0 ? off.median().item<double>() : 1.0;
  return m > 1e-12 ? m : 1.0;
}

// What every regressor shares: a seeded subset of at most `limit` points, inputs and targets standardised
// per column, and predictions mapped back; a subclass fits and predicts in the standardised space.
class Standardised : public Regressor {
 public:
  Standardised(const RegressorOptions& o, int64_t limit) : o_(o), limit_(limit) {}
  void fit(const torch::Tensor& z_in, const torch::Tensor& y_in, uint64_t seed) final {
    torch::Tensor z, y;
    subset(z_in.to(torch::kFloat64), y_in.to(torch::kFloat64), limit_, seed, z, y);
    zs_.fit(z);
    ys_.fit(y);
    fit_standardised(zs_.apply(z), ys_.apply(y), seed);
  }
  torch::Tensor predict(const torch::Tensor& z) const final {
    return ys_.invert(predict_standardised(zs_.apply(z.to(torch::kFloat64))));
  }

 protected:
  virtual void fit_standardised(const torch::Tensor& zn, const torch::Tensor& yn, uint64_t seed) = 0;
  virtual torch::Tensor predict_standardised(const torch::Tensor& zn) const = 0;
  double lengthscale(const torch::Tensor& zn, uint64_t seed) const { return o_.lengthscale > 0 ? o_.lengthscale : median_distance(zn, seed); }
  RegressorOptions o_;

 private:
  int64_t limit_;
  Scaler zs_, ys_;
};

class RffRegressor : public Standardised {
 public:
  explicit RffRegressor(const RegressorOptions& o) : Standardised(o, o.max_points) {}

 private:
  void fit_standardised(const torch::Tensor& zn, const torch::Tensor& yn, uint64_t seed) override {
    const double ell = lengthscale(zn, seed);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed + 2);
    W_ = at::normal(0.0, 1.0 / ell, {zn.size(1), o_.features}, gen, torch::TensorOptions().dtype(torch::kFloat64));
    b_ = at::rand({o_.features}, gen, torch::TensorOptions().dtype(torch::kFloat64)) * (2 * M_PI);
    const torch::Tensor phi = features(zn);
    const torch::Tensor A = torch::matmul(phi.t(), phi) + o_.noise * torch::eye(o_.features, torch::kFloat64);
    w_ = torch::linalg::solve(A, torch::matmul(phi.t(), yn), true);
  }
  torch::Tensor predict_standardised(const torch::Tensor& zn) const override { return torch::matmul(features(zn), w_); }
  torch::Tensor features(const torch::Tensor& zn) const {
    return std::sqrt(2.0 / static_cast<double>(o_.features)) * torch::cos(torch::matmul(zn, W_) + b_);
  }
  torch::Tensor W_, b_, w_;
};

class GpRegressor : public Standardised {
 public:
  explicit GpRegressor(const RegressorOptions& o) : Standardised(o, std::min<int64_t>(o.max_points, 2000)) {}

 private:
  void fit_standardised(const torch::Tensor& zn, const torch::Tensor& yn, uint64_t seed) override {
    zn_ = zn;
    ell_ = lengthscale(zn, seed);
    const torch::Tensor K = kernel(zn_, zn_) + o_.noise * torch::eye(zn_.size(0), torch::kFloat64);
    alpha_ = torch::cholesky_solve(yn, torch::linalg::cholesky(K));
  }
  torch::Tensor predict_standardised(const torch::Tensor& zn) const override { return torch::matmul(kernel(zn, zn_), alpha_); }
  torch::Tensor kernel(const torch::Tensor& a, const torch::Tensor& b) const { return torch::exp(-torch::cdist(a, b).square() / (2 * ell_ * ell_)); }
  torch::Tensor zn_, alpha_;
  double ell_ = 1;
};

class MlpRegressor : public Standardised {
 public:
  explicit MlpRegressor(const RegressorOptions& o) : Standardised(o, o.max_points) {}

 private:
  void fit_standardised(const torch::Tensor& zn, const torch::Tensor& yn, uint64_t seed) override {
    torch::manual_seed(seed + 3);
    net_ = torch::nn::Sequential(torch::nn::Linear(zn.size(1), o_.hidden), torch::nn::SiLU(), torch::nn::Linear(o_.hidden, o_.hidden),
                                 torch::nn::SiLU(), torch::nn::Linear(o_.hidden, yn.size(1)));
    net_->to(torch::kFloat64);
    torch::optim::Adam opt(net_->parameters(), torch::optim::AdamOptions(3e-3));
    for (int64_t i = 0; i < o_.steps; ++i) {
      if ((i & 15) == 0) check_stop();
      opt.zero_grad();
      const torch::Tensor loss = (net_->forward(zn) - yn).square().mean();
      loss.backward();
      opt.step();
    }
  }
  torch::Tensor predict_standardised(const torch::Tensor& zn) const override {
    torch::NoGradGuard g;
    return net_->forward(zn);
  }
  mutable torch::nn::Sequential net_{nullptr};
};
}  // namespace

std::unique_ptr<Regressor> make_regressor(const RegressorOptions& o) {
  o.validate();
  if (o.kind == "gp") return std::make_unique<GpRegressor>(o);
  if (o.kind == "mlp") return std::make_unique<MlpRegressor>(o);
  return std::make_unique<RffRegressor>(o);
}

}  // namespace paramkit::sb
