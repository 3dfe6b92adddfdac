// nbody integrators against closed forms and the classic problems (figure-eight, Pythagorean, Kepler).
#include <doctest/doctest.h>

#include <cmath>

#include "paramkit/core/error.h"
#include "paramkit/nbody/integrators.h"
#include "paramkit/nbody/system.h"

using namespace paramkit;
using namespace paramkit::nbody;

namespace {
constexpr double kPeriod8 = 6.32591398;
double rel_energy_error(const System& s, double e0) { return std::fabs((energy(s) - e0) / e0); }
}  // namespace

TEST_CASE("figure-eight: energy, angular momentum, one period with IAS15 (< 1e-12) and Hermite eta 0.01 (< 1e-6)") {
  System s0 = named_problem("figure-eight");
  CHECK(energy(s0) == doctest::Approx(-1.287142).epsilon(1e-6));
  CHECK(std::fabs(angular_momentum(s0)[2]) < 1e-7);
  for (const char* name : {"ias15", "hermite"}) {
    CAPTURE(name);
    System s = s0;
    auto integ = make_integrator(name, std::string(name) == "hermite" ? 0.01 : 1e-9);
    integ->integrate_to(s, kPeriod8);
    CHECK(s.t == kPeriod8);
    const double de = rel_energy_error(s, energy(s0));
    CHECK(de < (std::string(name) == "ias15" ? 1e-12 : 1e-6));
    // Back at the start after one period (the period is given to 9 digits; the orbit is stable).
    double dx = 0;
    for (size_t i = 0; i < 3; ++i)
      for (int k = 0; k < 3; ++k) dx = std::max(dx, std::fabs(s.x[i][k] - s0.x[i][k]));
    CHECK(dx < 1e-5);
  }
}

TEST_CASE("Pythagorean problem to t = 70 with IAS15 keeps |dE/E0| < 1e-8; momentum conserved to round-off") {
  System s = named_problem("pythagorean");
  const double e0 = energy(s);
  CHECK(e0 == doctest::Approx(-769.0 / 60).epsilon(1e-14));
  auto integ = make_integrator("ias15", 1e-9);
  integ->integrate_to(s, 70);
  CHECK(rel_energy_error(s, e0) < 1e-8);
  Vec3 p = momentum(s);
  for (int k = 0; k < 3; ++k) CHECK(std::fabs(p[k]) < 1e-12);
  CHECK(integ->stats.force_evaluations > integ->stats.steps);
}

TEST_CASE("convergence orders on a Kepler orbit (e = 0.5): Hermite 4th, leapfrog 2nd, RK45 tolerance-controlled") {
  // The largest relative energy error over one orbit (a = 1, G M = 1), sampled 200 times.
  auto error_with = [](const std::string& name, double p) {
    System s = named_problem("kepler", 0.5);
    const double e0 = energy(s);
    auto integ = make_integrator(name, p);
    double worst = 0;
    for (int k = 1; k <= 200; ++k) {
      integ->integrate_to(s, 2 * M_PI * k / 200);
      worst = std::max(worst, rel_energy_error(s, e0));
    }
    return worst;
  };
  const double h1 = error_with("hermite", 0.01), h2 = error_with("hermite", 0.005);
  CHECK(h1 / h2 > 12);  // 14.4 measured; 16 asymptotically for 4th order
  CHECK(h1 / h2 < 20);
  const double l1 = error_with("leapfrog", 2e-3), l2 = error_with("leapfrog", 1e-3);
  CHECK(l1 / l2 > 3);  // ~4 for 2nd order
  CHECK(l1 / l2 < 5);
  CHECK(error_with("rk45", 1e-12) < error_with("rk45", 1e-8));
}

TEST_CASE("collision time scale") {
  System s;
  s.m = {1, 1};
  s.x = {{0, 0, 0}, {1, 0, 0}};
  s.v = {{0, 0, 0}, {0, 0, 0}};
  CHECK(collision_time(s) == doctest::Approx(std::sqrt(0.5)));
  s.v[1] = {0, 0.1, 0};  // r/v = 10 > sqrt(1/2)
  CHECK(collision_time(s) == doctest::Approx(std::sqrt(0.5)));
  s.v[1] = {0, 10, 0};  // r/v = 0.1
  CHECK(collision_time(s) == doctest::Approx(0.1));
}

TEST_CASE("accelerations and jerks against finite differences; bad systems rejected") {
  System s = named_problem("pythagorean");
  s.v = {{0.1, 0.2, 0.0}, {-0.3, 0.1, 0.05}, {0.2, -0.1, 0.3}};
  std::vector<Vec3> a, j, ap, am;
  accelerations(s, a, &j);
  const double h = 1e-6;
  System sp = s, sm = s;
  for (size_t i = 0; i < 3; ++i)
    for (int k = 0; k < 3; ++k) {
      sp.x[i][k] += h * s.v[i][k];
      sm.x[i][k] -= h * s.v[i][k];
    }
  accelerations(sp, ap);
  accelerations(sm, am);
  for (size_t i = 0; i < 3; ++i)
    for (int k = 0; k < 3; ++k) CHECK(j[i][k] == doctest::Approx((ap[i][k] - am[i][k]) / (2 * h)).epsilon(1e-6));
  System bad = s;
  bad.m[1] = 0;
  CHECK_THROWS_AS(validate(bad, "ic.csv"), InputError);
  bad = s;
  bad.x[2] = bad.x[0];
  CHECK_THROWS_WITH_AS(validate(bad, "ic.csv"), doctest::Contains("coincide"), InputError);
  bad = s;
  bad.v[0][1] = NAN;
  CHECK_THROWS_AS(validate(bad, "ic.csv"), InputError);
  CHECK_THROWS_AS(make_integrator("verlet"), UsageError);
}
