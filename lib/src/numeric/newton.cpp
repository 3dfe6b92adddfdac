#include "paramkit/numeric/newton.h"

#include <algorithm>
#include <cmath>

#include "paramkit/core/signals.h"

namespace paramkit::numeric {

NewtonResult maximize(const Value& value, const Derivs& derivs, Vec theta, const NewtonOptions& o) {
  NewtonResult r;
  const int64_t n = static_cast<int64_t>(theta.size());
  Vec g, h, step, neg(n * n), trial(n);
  double f = value(theta);
  r.theta = theta;
  r.value = f;
  if (!std::isfinite(f)) {
    r.message = "the objective is not finite at the start";
    return r;
  }
  for (int it = 1; it <= o.max_iter; ++it) {
    check_stop();
    r.iterations = it;
    f = derivs(theta, g, h);
    r.value = f;
    if (!std::isfinite(f)) {
      r.message = "the objective is not finite";
      return r;
    }
    for (int64_t i = 0; i < n * n; ++i) neg[i] = -h[i];
    // Newton direction; where -H is not positive definite, Levenberg damping mu I (growing, bounded).
    double scale = 0;
    bool finite = std::all_of(g.begin(), g.end(), [](double v) { return std::isfinite(v); });
    for (int64_t i = 0; i < n * n; ++i) finite = finite && std::isfinite(neg[i]);
    for (int64_t i = 0; i < n; ++i) scale = std::max(scale, std::fabs(neg[i * n + i]));
    if (!finite) {
      r.message = "the gradient or Hessian is not finite";
      return r;
    }
    double mu = 0;
    int damping = 0;
    while (!cholesky_solve(neg, n, mu, g, step)) {
      if (++damping > o.max_damping) {
        r.message = "no ascent direction (the Hessian is degenerate)";
        return r;
      }
      mu = mu == 0 ? 1e-8 * std::max(scale, 1.0) : mu * 10;
      r.damped = true;
    }
    // Backtracking: halve the step until f does not decrease.
    double t = 1, next = -INFINITY;
    for (int k = 0; k < o.max_halvings; ++k, t *= 0.5) {
      check_stop();  // each trial is a pass over the data: stop between them, not only per iteration
      for (int64_t i = 0; i < n; ++i) trial[i] = theta[i] + t * step[i];
      next = value(trial);
      if (std::isfinite(next) && next >= f - 1e-12 * std::fabs(f)) break;
    }
    if (!std::isfinite(next) || next < f - 1e-12 * std::fabs(f)) {
      // The line search failed: converged when the gradient is already negligible.
      double gmax = 0;
      for (double x : g) gmax = std::max(gmax, std::fabs(x));
      r.converged = gmax < 1e-6 * (1 + std::fabs(f));
      if (!r.converged) r.message = "line search failed";
      return r;
    }
    double move = 0;
    for (int64_t i = 0; i < n; ++i) move = std::max(move, std::fabs(trial[i] - theta[i]));
    theta = trial;
    r.theta = theta;
    const double change = std::fabs(next - f);
    f = next;
    r.value = f;
    if (change <= o.tol * (std::fabs(f) + o.tol) && move < o.move_tol) {
      r.converged = true;
      return r;
    }
  }
  r.message = "not converged after " + std::to_string(o.max_iter) + " iterations";
  return r;
}

}  // namespace paramkit::numeric
