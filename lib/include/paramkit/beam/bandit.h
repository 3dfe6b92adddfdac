// Fixed-budget best-arm identification over the (psi1, psi2) grid: an environment that charges one pilot
// per noisy RSS measurement and refuses to exceed the budget, and the algorithms (HoloBeam, uniform
// allocation, Successive Rejects, Sequential Halving, UCB-E, the exhaustive sweep) on one interface, so
// that a new algorithm is one class.
#pragma once
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "paramkit/beam/channel.h"

namespace paramkit::beam {

struct Arm {
  int64_t i = 0, j = 0;
};

class Environment {
 public:
  Environment(const Channel& c, double s1, double s2, int64_t budget, uint64_t seed);
  // One pilot: the noisy normalised RSS of arm (i, j). paramkit::Error when the budget is spent.
  double pull(int64_t i, int64_t j);
  int64_t budget() const { return budget_; }
  int64_t spent() const { return spent_; }
  int64_t left() const { return budget_ - spent_; }
  const Channel& channel() const { return c_; }

 private:
  const Channel& c_;
  double s1_, s2_;
  int64_t budget_, spent_ = 0;
  std::mt19937_64 rng_;
  std::normal_distribution<double> normal_{0.0, 1.0};
};

class Algorithm {
 public:
  virtual ~Algorithm() = default;
  virtual std::string name() const = 0;
  // The arm it recommends after spending at most env.budget() pilots.
  virtual Arm run(Environment& env) = 0;
};

// holobeam, uniform, sr, sh, sr-1d, sh-1d, ucbe, exhaustive. UsageError for another name.
std::unique_ptr<Algorithm> make_algorithm(const std::string& name, double ucbe_a = 1.0);
std::vector<std::string> algorithm_names();

// The unimodal fixed-budget search HoloBeam runs on one axis: `pull(k, t)` measures arm k (its t-th pull
// in the round) of a cyclic sequence of n arms whose mean is unimodal; `budget` pilots at most, split
// evenly over ceil(log2 n) rounds. Each round measures every arm of the current arc equally (the whole
// circle first) and keeps the half-arc centred on the empirical best: sequential halving whose survivors
// are a contiguous arc around the leader rather than the top half by mean, so noisy arms of the flat
// Dirichlet tails never survive by chance. (Probe-based searches, line-search elimination included,
// compare arms in those tails, where the means differ by less than the noise: they do worse here.)
// Returns the recommended arm.
template <class Pull>
int64_t unimodal_search(int64_t n, int64_t budget, Pull&& pull);

}  // namespace paramkit::beam

#include "paramkit/beam/unimodal.inl"
