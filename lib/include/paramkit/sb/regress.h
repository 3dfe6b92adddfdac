// Drift regression on (x, t) for the bridges' iterative proportional fitting: a Gaussian process with an
// RBF kernel, exact (small n, as the reference code) or through random Fourier features (thousands of
// particles per snapshot), and a small MLP. Every regressor predicts a residual on top of a prior mean
// the caller subtracts (the reference drift).
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>

namespace paramkit::sb {

struct RegressorOptions {
  std::string kind = "rff";   // rff | gp | mlp
  int64_t features = 256;     // rff: random features
  double noise = 0.1;         // rff, gp: the observation noise variance relative to the target variance (ridge)
  double lengthscale = 0;     // rff, gp: RBF lengthscale on standardised inputs (0: the median heuristic)
  int64_t max_points = 20000;  // rff, mlp: training points (a seeded subset); gp: at most 2000
  int64_t hidden = 64, steps = 300;  // mlp
  void validate() const;      // UsageError naming the flag
};

class Regressor {
 public:
  virtual ~Regressor() = default;
  // z [N, q] inputs, y [N, d] targets (float64).
  virtual void fit(const torch::Tensor& z, const torch::Tensor& y, uint64_t seed) = 0;
  virtual torch::Tensor predict(const torch::Tensor& z) const = 0;
};
std::unique_ptr<Regressor> make_regressor(const RegressorOptions& o);

}  // namespace paramkit::sb
