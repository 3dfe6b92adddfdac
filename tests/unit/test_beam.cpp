// holobeam-sim's library (beam/): the channel's checkable facts, the two-Gaussian-arm error probability
// Phi(-2) by Monte Carlo and in closed form, budgets, noiseless recovery and thread-count independence.
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include "paramkit/beam/montecarlo.h"
#include "paramkit/core/error.h"

using namespace paramkit;
using namespace paramkit::beam;

TEST_CASE("HMT channel: peak gain N1^2 N2^2 at psi = psi*, one local maximum on the 2 pi / N grid, the best psi1 independent of psi2") {
  Channel c;
  c.n1 = 8;
  c.n2 = 12;
  CHECK(dirichlet_sq(8, 0) == 64);
  CHECK(dirichlet_sq(8, 2 * M_PI) == doctest::Approx(64));
  CHECK(c.gain(3, 5, c.psi1(3), c.psi2(5)) == doctest::Approx(1));  // normalised by N1^2 N2^2
  CHECK(dirichlet_sq(8, c.psi1(3) - c.psi1(3)) * dirichlet_sq(12, 0) == doctest::Approx(64.0 * 144.0));
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> U(0, 2 * M_PI);
  for (int trial = 0; trial < 200; ++trial) {
    const double s1 = U(rng), s2 = U(rng);
    int maxima = 0;
    for (int64_t i = 0; i < c.k1(); ++i) {
      const double v = c.factor1(i, s1), l = c.factor1((i + c.k1() - 1) % c.k1(), s1), r = c.factor1((i + 1) % c.k1(), s1);
      if (v > l && v > r) ++maxima;
    }
    CHECK(maxima == 1);
    int64_t best_at_0 = 0;
    for (int64_t i = 1; i < c.k1(); ++i)
      if (c.gain(i, 0, s1, s2) > c.gain(best_at_0, 0, s1, s2)) best_at_0 = i;
    for (int64_t j = 1; j < c.k2(); ++j) {
      int64_t b = 0;
      for (int64_t i = 1; i < c.k1(); ++i)
        if (c.gain(i, j, s1, s2) > c.gain(b, j, s1, s2)) b = i;
      CHECK(b == best_at_0);
    }
  }
  // A grid 4x finer is not unimodal: the side lobes are local maxima too.
  c.oversample = 4;
  int maxima = 0;
  for (int64_t i = 0; i < c.k1(); ++i) {
    const double v = c.factor1(i, 1.0), l = c.factor1((i + c.k1() - 1) % c.k1(), 1.0), r = c.factor1((i + 1) % c.k1(), 1.0);
    if (v > l && v > r) ++maxima;
  }
  CHECK(maxima > 1);
}

TEST_CASE("two Gaussian arms with gap sigma and 16 pilots split evenly: error probability Phi(-2) = 0.02275, by Monte Carlo within its Wilson interval") {
  CHECK(normal_cdf(-2) == doctest::Approx(0.0227501).epsilon(1e-5));
  std::mt19937_64 rng(7);
  std::normal_distribution<double> N(0, 1);
  const int64_t T = 200000;
  int64_t errors = 0;
  for (int64_t t = 0; t < T; ++t) {
    int64_t pulls = 0;
    auto pull = [&](int64_t k, int64_t) {
      ++pulls;
      return (k == 0 ? 1.0 : 0.0) + N(rng);  // gap 1 = sigma
    };
    const int64_t chosen = unimodal_search(2, 16, pull);
    REQUIRE(pulls == 16);
    errors += chosen != 0;
  }
  const auto [lo, hi] = wilson(errors, T, 3.29);  // 99.9%
  CHECK(lo <= 0.0227501);
  CHECK(hi >= 0.0227501);
  CHECK(wilson(0, 10).first == 0);
  CHECK(wilson(10, 10).second == doctest::Approx(1));
}

TEST_CASE("every algorithm: no noise, no error, never more than its budget, the same results for 1 and 2 threads") {
  MonteCarloOptions o;
  o.channel.n1 = 8;
  o.channel.n2 = 8;
  o.channel.sigma = 0;
  o.budget = 2000;
  o.trials = 50;
  for (const auto& s : monte_carlo(o, algorithm_names(), 3)) {
    CAPTURE(s.algorithm);
    CHECK(s.errors == 0);
    CHECK(s.max_spent <= o.budget);
    CHECK(s.mean_regret == doctest::Approx(0).scale(1));
  }
  o.channel.sigma = 0.3;
  for (int64_t budget : {1, 7, 64, 65, 300}) {
    o.budget = budget;
    for (const auto& s : monte_carlo(o, algorithm_names(), 4)) {
      CAPTURE(s.algorithm);
      CAPTURE(budget);
      CHECK(s.max_spent <= budget);
    }
  }
  o.budget = 500;
  o.trials = 101;
  o.threads = 1;
  const auto one = monte_carlo(o, algorithm_names(), 5);
  o.threads = 2;
  const auto two = monte_carlo(o, algorithm_names(), 5);
  for (size_t a = 0; a < one.size(); ++a) {
    CHECK(one[a].errors == two[a].errors);
    CHECK(one[a].mean_gain == two[a].mean_gain);
  }
  CHECK_THROWS_AS(monte_carlo(o, {"nope"}, 1), UsageError);
  o.channel.n1 = 0;
  CHECK_THROWS_AS(monte_carlo(o, {"holobeam"}, 1), UsageError);
}

TEST_CASE("HoloBeam's error probability falls with the budget (sigma 0.05, 16 x 16)") {
  MonteCarloOptions o;
  o.channel.n1 = 16;
  o.channel.n2 = 16;
  o.channel.sigma = 0.05;
  o.trials = 400;
  o.threads = 2;
  o.budget = 512;
  const auto small = monte_carlo(o, {"holobeam"}, 9);
  o.budget = 4096;
  const auto large = monte_carlo(o, {"holobeam"}, 9);
  MESSAGE("holobeam " << small[0].p_error << " -> " << large[0].p_error);
  CHECK(large[0].p_error < 0.2 * small[0].p_error);
  CHECK(large[0].mean_regret < small[0].mean_regret);
}
