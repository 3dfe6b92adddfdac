// Dense solvers and Newton's method against closed forms.
#include <doctest/doctest.h>

#include <cmath>

#include "paramkit/numeric/dense.h"
#include "paramkit/numeric/newton.h"

using namespace paramkit::numeric;

TEST_CASE("cholesky_solve and spd_inverse: a hand-computed 2x2 system, not-PD and non-finite refused") {
  // A = [[4, 2], [2, 3]], b = [2, 1] -> x = [0.5, 0]; A^-1 = [[3, -2], [-2, 4]] / 8.
  Vec x;
  REQUIRE(cholesky_solve({4, 2, 2, 3}, 2, 0, {2, 1}, x));
  CHECK(x[0] == doctest::Approx(0.5));
  CHECK(x[1] == doctest::Approx(0.0));
  Vec inv = spd_inverse({4, 2, 2, 3}, 2);
  REQUIRE(inv.size() == 4);
  CHECK(inv[0] == doctest::Approx(3.0 / 8));
  CHECK(inv[1] == doctest::Approx(-2.0 / 8));
  CHECK(inv[3] == doctest::Approx(4.0 / 8));
  CHECK_FALSE(cholesky_solve({1, 2, 2, 1}, 2, 0, {1, 1}, x));  // indefinite
  CHECK(cholesky_solve({1, 2, 2, 1}, 2, 10, {1, 1}, x));        // damped: PD
  CHECK_FALSE(cholesky_solve({INFINITY, 0, 0, 1}, 2, 0, {1, 1}, x));
  CHECK(spd_inverse({0, 0, 0, 0}, 2).empty());
}

TEST_CASE("Newton: a concave quadratic in one step, the negated Rosenbrock function from a start where -H is not PD") {
  // f = -(x - 1)^2 - 2 (y + 3)^2
  auto fq = [](const Vec& t) { return -(t[0] - 1) * (t[0] - 1) - 2 * (t[1] + 3) * (t[1] + 3); };
  auto dq = [&](const Vec& t, Vec& g, Vec& h) {
    g = {-2 * (t[0] - 1), -4 * (t[1] + 3)};
    h = {-2, 0, 0, -4};
    return fq(t);
  };
  NewtonResult q = maximize(fq, dq, {10, 10});
  CHECK(q.converged);
  CHECK(q.iterations <= 2);
  CHECK(q.theta[0] == doctest::Approx(1));
  CHECK(q.theta[1] == doctest::Approx(-3));
  // f = -(1 - x)^2 - 100 (y - x^2)^2; at (0, 1) -H = [[2 - 400 (y - 3x^2), ...]] is indefinite.
  auto fr = [](const Vec& t) { return -(1 - t[0]) * (1 - t[0]) - 100 * (t[1] - t[0] * t[0]) * (t[1] - t[0] * t[0]); };
  auto dr = [&](const Vec& t, Vec& g, Vec& h) {
    const double x = t[0], y = t[1];
    g = {2 * (1 - x) + 400 * x * (y - x * x), -200 * (y - x * x)};
    h = {-2 - 400 * (3 * x * x - y), 400 * x, 400 * x, -200};
    return fr(t);
  };
  NewtonOptions o;
  o.max_iter = 200;
  NewtonResult r = maximize(fr, dr, {0, 1}, o);
  CHECK(r.converged);
  CHECK(r.damped);
  CHECK(r.theta[0] == doctest::Approx(1).epsilon(1e-5));
  CHECK(r.theta[1] == doctest::Approx(1).epsilon(1e-5));
}

TEST_CASE("Newton: non-finite derivatives and unbounded objectives end with a message, never a hang") {
  auto f = [](const Vec& t) { return t[0]; };
  auto d_inf = [](const Vec& t, Vec& g, Vec& h) {
    g = {1};
    h = {-INFINITY};
    return t[0];
  };
  NewtonResult a = maximize(f, d_inf, {0});
  CHECK_FALSE(a.converged);
  CHECK(a.message.find("not finite") != std::string::npos);
  // f = x is unbounded: a flat Hessian needs damping, each step climbs; bounded by max_iter.
  auto d_flat = [](const Vec& t, Vec& g, Vec& h) {
    g = {1};
    h = {0};
    return t[0];
  };
  NewtonOptions o;
  o.max_iter = 5;
  NewtonResult b = maximize(f, d_flat, {0}, o);
  CHECK_FALSE(b.converged);
  CHECK(b.iterations == 5);
  auto nan_start = [](const Vec&) { return NAN; };
  NewtonResult c = maximize(nan_start, d_flat, {0});
  CHECK_FALSE(c.converged);
  CHECK(c.message.find("start") != std::string::npos);
}

TEST_CASE("Newton: a flat direction next to a steep one climbs (Marquardt scaling), never a false convergence") {
  // f = -1e40 x^2 - 5 y: the likelihood of tied events with the scale running to 0 looks like this (one
  // enormous curvature, one direction without curvature that climbs for ever). Damping scaled by the
  // largest curvature gave y a step of 5e-32 and declared convergence; per-coordinate damping climbs.
  auto f = [](const Vec& t) { return -1e40 * t[0] * t[0] - 5 * t[1]; };
  auto d = [&](const Vec& t, Vec& g, Vec& h) {
    g = {-2e40 * t[0], -5};
    h = {-2e40, 0, 0, 0};
    return f(t);
  };
  NewtonOptions o;
  o.max_iter = 10;
  o.max_step = 20;
  NewtonResult r = maximize(f, d, {0, 0}, o);
  CHECK_FALSE(r.converged);
  CHECK(r.damped);
  CHECK(r.theta[1] == doctest::Approx(-200));  // 10 steps of the longest allowed length
  CHECK(r.message.find("not converged after 10") != std::string::npos);
}

TEST_CASE("Newton: a failed line search is convergence only where the predicted gain is negligible") {
  // Beyond x = 0 the objective is -inf (a cliff); the gradient 1e-2 is small next to |f| = 1e5, but the
  // Newton step (curvature 1e-6) predicts a gain of 50: not converged.
  auto f = [](const Vec& t) { return t[0] == 0 ? 1e5 : -INFINITY; };
  auto d = [](const Vec& t, Vec& g, Vec& h) {
    g = {1e-2};
    h = {-1e-6};
    return t[0] == 0 ? 1e5 : -INFINITY;
  };
  NewtonResult r = maximize(f, d, {0});
  CHECK_FALSE(r.converged);
  CHECK(r.message == "line search failed");
}

TEST_CASE("Newton: a supremum at infinity stops on the plateau, and R's test flags that estimate, not a finite one") {
  // f = -log(1 + e^-b) - (c - 2)^2: sup 0 as b -> infinity (a monotone likelihood, as a factor level
  // without events), c = 2 finite.
  auto f = [](const Vec& t) { return -std::log1p(std::exp(-t[0])) - (t[1] - 2) * (t[1] - 2); };
  auto d = [&](const Vec& t, Vec& g, Vec& h) {
    const double p = 1 / (1 + std::exp(t[0]));  // e^-b / (1 + e^-b)
    g = {p, -2 * (t[1] - 2)};
    h = {-p * (1 - p), 0, 0, -2};
    return f(t);
  };
  NewtonOptions o;
  o.tol = 1e-10;
  o.plateau_iter = 3;
  NewtonResult r = maximize(f, d, {0, 0}, o);
  CHECK(r.plateau);
  CHECK_FALSE(r.converged);
  CHECK(r.theta[0] > 15);
  CHECK(r.theta[1] == doctest::Approx(2));
  Vec g, h;
  d(r.theta, g, h);
  Vec info = {-h[0], -h[1], -h[2], -h[3]};
  const std::vector<bool> inf = may_be_infinite(r.theta, g, info, 1e-6);
  CHECK(inf[0]);
  CHECK_FALSE(inf[1]);
  // At a finite maximum nothing is flagged.
  auto fq = [](const Vec& t) { return -(t[0] - 1) * (t[0] - 1); };
  auto dq = [&](const Vec& t, Vec& gq, Vec& hq) {
    gq = {-2 * (t[0] - 1)};
    hq = {-2};
    return fq(t);
  };
  NewtonResult q = maximize(fq, dq, {5}, o);
  REQUIRE(q.converged);
  dq(q.theta, g, h);
  CHECK_FALSE(may_be_infinite(q.theta, g, {2}, 1e-6)[0]);
}
