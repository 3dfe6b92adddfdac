#include "paramkit/numeric/newton.h"

#include <algorithm>
#include <cmath>

#include "paramkit/core/signals.h"

namespace paramkit::numeric {

namespace {
bool all_finite(const Vec& v) {
  return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
}
}  // namespace

NewtonResult maximize(const Value& value, const Derivs& derivs, Vec theta, const NewtonOptions& o) {
  check_stop();
  NewtonResult r;
  const int64_t n = static_cast<int64_t>(theta.size());
  Vec g, h, step, neg(n * n), trial(n);
  double f = value(theta);
  r.theta = theta;
  r.value = r.start_value = std::isfinite(f) ? f : -INFINITY;
  if (!std::isfinite(f) || !all_finite(theta)) {
    r.message = "the objective is not finite at the start";
    return r;
  }
  int flat = 0;  // consecutive iterations in which f stopped changing while the parameters moved
  for (int it = 1; it <= o.max_iter; ++it) {
    check_stop();
    r.iterations = it;
    f = derivs(theta, g, h);
    check_stop();
    if (!std::isfinite(f)) {
      r.nonfinite = true;
      r.message = "the objective is not finite";
      return r;
    }
    r.value = f;
    for (int64_t i = 0; i < n * n; ++i) neg[i] = -h[i];
    // Newton direction; where -H is not positive definite, Levenberg-Marquardt damping (growing, bounded).
    if (!all_finite(g) || !all_finite(neg)) {
      r.nonfinite = true;
      r.message = "the gradient or Hessian is not finite";
      return r;
    }
    // Marquardt's scaling: mu times max(|-H_ii|, 1) on the diagonal, so that a direction without
    // curvature (a scale running to 0 along a flat ridge) gets a step of its own size rather than one
    // shrunk by the largest curvature elsewhere.
    double mu = 0;
    int damping = 0;
    bool damped_now = false;
    Vec damped_neg = neg;
    while (!cholesky_solve(damped_neg, n, 0, g, step)) {
      if (++damping > o.max_damping) {
        r.message = "no ascent direction (the Hessian is degenerate)";
        return r;
      }
      mu = mu == 0 ? 1e-8 : mu * 10;
      damped_neg = neg;
      for (int64_t i = 0; i < n; ++i) damped_neg[i * n + i] += mu * std::max(std::fabs(neg[i * n + i]), 1.0);
      r.damped = damped_now = true;
    }
    double longest = 0;
    for (double s : step) longest = std::max(longest, std::fabs(s));
    double t = longest > o.max_step ? o.max_step / longest : 1.0;
    // Backtracking: halve the step until f does not decrease.
    double next = -INFINITY;
    for (int k = 0; k < o.max_halvings; ++k, t *= 0.5) {
      check_stop();  // each trial is a pass over the data: stop between them, not only per iteration
      for (int64_t i = 0; i < n; ++i) trial[i] = theta[i] + t * step[i];
      next = value(trial);
      if (std::isfinite(next) && next >= f - 1e-12 * std::fabs(f)) break;
    }
    if (!std::isfinite(next) || next < f - 1e-12 * std::fabs(f)) {
      // The line search failed: converged when the gradient is already negligible and so is the gain
      // the Newton step predicts (g . step / 2; at the edge of a degenerate likelihood the gradient can
      // look small next to a large |f| while the predicted gain is not).
      double gmax = 0, gain = 0;
      for (double x : g) gmax = std::max(gmax, std::fabs(x));
      for (int64_t i = 0; i < n; ++i) gain += 0.5 * g[i] * step[i];
      r.converged = gmax < 1e-6 * (1 + std::fabs(f)) && gain <= 1e-9 * (1 + std::fabs(f));
      if (!r.converged) r.message = "line search failed";
      return r;
    }
    double move = 0;
    r.last_step.assign(n, 0.0);
    for (int64_t i = 0; i < n; ++i) {
      r.last_step[i] = trial[i] - theta[i];
      move = std::max(move, std::fabs(r.last_step[i]));
    }
    theta = trial;
    r.theta = theta;
    const double change = std::fabs(next - f);
    f = next;
    r.value = f;
    double gmax = 0;
    for (double x : g) gmax = std::max(gmax, std::fabs(x));
    // A damped step is short by construction: it converges only where the gradient is negligible too.
    const bool small_gradient = !damped_now || gmax < 1e-6 * (1 + std::fabs(f));
    const double f_tol = o.tol * (std::fabs(f) + o.tol);
    if (change <= f_tol && small_gradient && move < o.move_tol) {
      r.converged = true;
      return r;
    }
    // The plateau test also takes an absolute bound: on a million rows the relative tolerance allows
    // changes of 1e-4 a step, which a slow crawl along a flat ridge (not an infinite estimate) makes.
    if (o.plateau_iter > 0 && change <= std::min(f_tol, o.plateau_tol) && small_gradient) {
      if (++flat >= o.plateau_iter) {
        r.plateau = true;
        r.message = "the objective converged while the parameters kept moving (an estimate may be infinite)";
        return r;
      }
    } else {
      flat = 0;
    }
  }
  r.message = "not converged after " + std::to_string(o.max_iter) + " iterations";
  return r;
}

std::vector<bool> may_be_infinite(const Vec& theta, const Vec& grad, const Vec& info, double eps, double toler) {
  const int64_t n = static_cast<int64_t>(theta.size());
  std::vector<bool> out(n, false);
  Vec step;
  if (static_cast<int64_t>(info.size()) != n * n || !cholesky_solve(info, n, 0, grad, step)) return out;
  for (int64_t i = 0; i < n; ++i) {
    const double s = std::fabs(step[i]);
    out[i] = s > eps && s > toler * std::fabs(theta[i]);
  }
  return out;
}

}  // namespace paramkit::numeric
