// Parametric drifts f_theta(x): the systems mmsb-fit simulates and the reference classes it refines
// (Shen, Berlinghieri & Broderick, AISTATS 2025): brownian (f = 0), lv (Lotka-Volterra), repressilator,
// linear (A x + b, Ornstein-Uhlenbeck), spring (-k x), potential (-grad U with U a small tanh network);
// Euler-Maruyama simulation, and the least-squares fit of theta to trajectories (the Euler-Maruyama
// likelihood with a fixed sigma).
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "paramkit/sb/snapshots.h"

namespace paramkit::sb {

struct DriftClass {
  std::string kind;   // brownian | lv | repressilator | linear | spring | potential
  int64_t dim = 2;
  int64_t hidden = 16;  // potential: hidden units
  std::vector<std::string> names() const;   // one per parameter
  int64_t parameters() const;
  bool linear_in_theta() const;             // everything but repressilator and potential
  std::vector<double> default_theta(uint64_t seed = 0) const;  // the fit's start (potential: a seeded small init)
  void validate() const;                    // UsageError naming the field
};
// The drift [N, d] at x [N, d] for parameters theta [P] (differentiable in both).
torch::Tensor drift(const DriftClass& c, const torch::Tensor& theta, const torch::Tensor& x);

// Euler-Maruyama from x0 [n, d] over [t0, t1] in steps of at most dt: the path [steps + 1, n, d] (float64)
// and the times. sigma: the diffusion (dX = f dt + sigma dW). gen: the noise.
struct Path {
  std::vector<double> t;
  torch::Tensor x;
};
Path simulate(const DriftClass& c, const torch::Tensor& theta, const torch::Tensor& x0, double t0, double t1, double dt, double sigma,
              at::Generator gen);

// Snapshots of one population: n particles from N(x0_mean, x0_sd^2 I) at times[0], simulated with
// Euler-Maruyama (steps of at most dt) and recorded at every time (the same particles, but no identity
// is kept: what a snapshot study observes). times strictly increasing (UsageError otherwise).
Snapshots simulate_snapshots(const DriftClass& c, const std::vector<double>& theta, const std::vector<double>& x0_mean, double x0_sd,
                             const std::vector<double>& times, int64_t n, double sigma, double dt, uint64_t seed);

// theta minimising sum ||x_{i+1} - x_i - f_theta(x_i) dt_i||^2 over the transitions (x_i [M, d], x_next
// [M, d], dt [M]): exact normal equations when f is linear in theta (with a 1e-9 ridge), else `iters`
// Adam steps (lr 0.01, repressilator's parameters on a log scale) from `start`. brownian: empty.
torch::Tensor fit_theta(const DriftClass& c, const torch::Tensor& x, const torch::Tensor& x_next, const torch::Tensor& dt,
                        const torch::Tensor& start, int64_t iters = 2000);

}  // namespace paramkit::sb
