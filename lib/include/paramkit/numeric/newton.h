// Newton's method for maximising a smooth function (log-likelihoods): Cholesky steps on -H with
// Levenberg damping where -H is not positive definite, and a backtracking line search. Every loop is
// bounded and checks the stop flag (SIGINT/SIGTERM) at each iteration.
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
  int max_damping = 21;     // mu = 1e-8 scale, x10 each time, up to 1e12 scale
};

struct NewtonResult {
  Vec theta;
  double value = -INFINITY;  // f at theta (-inf when f is not finite at the start)
  int iterations = 0;
  bool converged = false;
  bool damped = false;  // the Levenberg fallback was needed on some step
  std::string message;  // why it stopped, when not converged
};

// value(theta) returns f; derivs(theta, grad, hess) returns f and fills the gradient and the n x n
// row-major Hessian.
using Value = std::function<double(const Vec&)>;
using Derivs = std::function<double(const Vec&, Vec& grad, Vec& hess)>;

NewtonResult maximize(const Value& value, const Derivs& derivs, Vec theta, const NewtonOptions& options = {});

}  // namespace paramkit::numeric
