// Exact optimal transport (ot/emd.h, LEMON's network simplex) against brute force over all
// permutations, the 1-D quantile coupling for unequal sizes, and W2(X, X + mu) = ||mu||.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "paramkit/core/error.h"
#include "paramkit/ot/emd.h"

using namespace paramkit;

namespace {
// The exact W2^2 between uniform measures on sorted 1-D samples of any sizes: the integral over
// u in (0, 1) of (F^-1(u) - G^-1(u))^2, both quantile functions step functions.
double w2sq_1d(std::vector<double> a, std::vector<double> b) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  const double n = static_cast<double>(a.size()), m = static_cast<double>(b.size());
  size_t i = 0, j = 0;
  double u = 0, total = 0;
  while (i < a.size() && j < b.size()) {
    const double next = std::min((static_cast<double>(i) + 1) / n, (static_cast<double>(j) + 1) / m);
    total += (next - u) * (a[i] - b[j]) * (a[i] - b[j]);
    u = next;
    if (std::abs(u - (static_cast<double>(i) + 1) / n) < 1e-15) ++i;
    if (std::abs(u - (static_cast<double>(j) + 1) / m) < 1e-15) ++j;
  }
  return total;
}
}  // namespace

TEST_CASE("EMD of n x n uniform measures equals the best permutation found by brute force") {
  std::mt19937_64 rng(2);
  std::uniform_real_distribution<double> U(0, 10);
  for (int trial = 0; trial < 5; ++trial) {
    const int64_t n = 6;
    std::vector<double> cost(n * n);
    for (double& c : cost) c = U(rng);
    std::vector<int64_t> perm(n);
    std::iota(perm.begin(), perm.end(), 0);
    double best = 1e300;
    do {
      double c = 0;
      for (int64_t i = 0; i < n; ++i) c += cost[i * n + perm[i]];
      best = std::min(best, c / n);
    } while (std::next_permutation(perm.begin(), perm.end()));
    CHECK(ot::emd_uniform(cost, n, n) == doctest::Approx(best).epsilon(1e-12));
  }
}

TEST_CASE("W2 of unequal 1-D sets equals the quantile coupling, and W2(X, X + mu) = norm of mu") {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> N(0, 1);
  std::vector<double> a(70), b(45);
  for (double& v : a) v = N(rng);
  for (double& v : b) v = 2 * N(rng) + 1;
  CHECK(ot::w2(a.data(), 70, b.data(), 45, 1) == doctest::Approx(std::sqrt(w2sq_1d(a, b))).epsilon(1e-10));
  const int64_t n = 300, d = 3;
  std::vector<double> x(n * d), y(n * d);
  const double mu[3] = {0.3, -1.2, 2.0};
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < d; ++k) {
      x[i * d + k] = N(rng);
      y[i * d + k] = x[i * d + k] + mu[k];
    }
  CHECK(ot::w2(x.data(), n, y.data(), n, d) == doctest::Approx(std::sqrt(0.09 + 1.44 + 4.0)).epsilon(1e-9));
  CHECK(ot::w2(x.data(), n, x.data(), n, d) == doctest::Approx(0).scale(1));
  CHECK_THROWS_AS(ot::w2(x.data(), 0, y.data(), n, d), UsageError);
  std::vector<double> bad = {0, NAN};
  CHECK_THROWS_AS(ot::emd_uniform(bad, 1, 2), UsageError);
}
