// Newton's method for maximising a smooth function (log-likelihoods): Cholesky steps on -H with
// Levenberg-Marquardt damping (mu max(|H_ii|, 1) on the diagonal) where -H is not positive definite, and a backtracking line search. Every loop is
// bounded (iterations, damping increases, halvings, the step length) and checks the stop flag
// (SIGINT/SIGTERM) at each iteration and each line-search trial; non-finite values end the run with
// a message naming them.
#pragma once
#include <cmath>
#include <functional>
#include <string>

#include "paramkit/numeric/dense.h"

namespace paramkit::numeric {

struct NewtonOptions {
  int max_iter = 100;
  double tol = 1e-9;        // converged when |f change| <= tol (|f| + tol) ...
  double move_tol = 1e-6;   // ... and no parameter moved more than this (infinity: no such condition)
  int max_halvings = 60;    // line search
  int max_damping = 21;     // mu = 1e-8, x10 each time, up to 1e12
  double max_step = INFINITY;  // longest step (largest component) tried; longer Newton steps are shortened
  // Stop after this many consecutive iterations in which f no longer changes (the tol test) while the
  // parameters still move (the move_tol test fails): f has reached its supremum along a direction to
  // infinity (an infinite estimate, as a coefficient of a factor level without events). 0: never.
  int plateau_iter = 0;
  double plateau_tol = 1e-8;  // ... and each of those changes below this too (absolute)
};

struct NewtonResult {
  Vec theta;
  double value = -INFINITY;  // f at theta, the last finite value (-inf when f is not finite at the start)
  double start_value = -INFINITY;  // f at the start
  int iterations = 0;
  bool converged = false;
  bool plateau = false;    // stopped by plateau_iter: f converged, the parameters did not
  bool nonfinite = false;  // stopped because f, its gradient or Hessian became non-finite (after the start)
  bool damped = false;     // the Levenberg fallback was needed on some step
  Vec last_step;           // the last accepted step (theta - previous theta); empty before the first
  std::string message;     // why it stopped, when not converged
};

// value(theta) returns f; derivs(theta, grad, hess) returns f and fills the gradient and the n x n
// row-major Hessian.
using Value = std::function<double(const Vec&)>;
using Derivs = std::function<double(const Vec&, Vec& grad, Vec& hess)>;

NewtonResult maximize(const Value& value, const Derivs& derivs, Vec theta, const NewtonOptions& options = {});

// R's test for estimates that may be infinite (coxph.fit): the Newton step that remains at the end,
// |inverse information x gradient|, per parameter, is larger than eps and than toler x |theta|.
// info: minus the Hessian (row-major); an empty or singular one flags nothing.
std::vector<bool> may_be_infinite(const Vec& theta, const Vec& grad, const Vec& info, double eps = 1e-9, double toler = 3.162278e-5);

}  // namespace paramkit::numeric
