// Monte Carlo of fixed-budget beam alignment: independent trials (receiver direction drawn uniformly per
// trial, per-trial seeds from the run's seed and the trial index, so any thread count gives the same
// results), error probability with Wilson intervals, achieved RSS and rate, regret.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "paramkit/beam/bandit.h"

namespace paramkit::beam {

// The Wilson score interval of a binomial proportion at z (1.96: 95%).
std::pair<double, double> wilson(int64_t successes, int64_t n, double z = 1.96);
// Phi, the standard normal CDF.
double normal_cdf(double x);

struct TrialStats {
  std::string algorithm;
  int64_t trials = 0, errors = 0;
  double p_error = 0, ci_low = 0, ci_high = 0;
  double mean_gain = 0, mean_rate = 0, mean_regret = 0;  // regret: best grid arm's gain - the chosen arm's
  int64_t max_spent = 0;
};
nlohmann::json to_json(const TrialStats& s);

struct MonteCarloOptions {
  Channel channel;
  int64_t budget = 1000, trials = 1000;
  int threads = 1;
  double ucbe_a = 1.0;
  void validate() const;
};

// One trial's seed from the run's seed and the trial index (SplitMix64).
uint64_t trial_seed(uint64_t seed, int64_t trial);
// Runs every named algorithm on the same receivers and noise seeds. Stops at SIGINT/SIGTERM within a
// second (Interrupted).
std::vector<TrialStats> monte_carlo(const MonteCarloOptions& o, const std::vector<std::string>& algorithms, uint64_t seed);

}  // namespace paramkit::beam
