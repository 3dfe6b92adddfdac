// Small dense linear algebra on row-major std::vector<double> (a handful of parameters: a Hessian, an
// information matrix), without LibTorch's per-call overhead.
#pragma once
#include <cstdint>
#include <vector>

namespace paramkit::numeric {

using Vec = std::vector<double>;

// Solves (A + mu I) x = b for a symmetric positive definite n x n matrix A by Cholesky; false when
// A + mu I is not positive definite or not finite.
bool cholesky_solve(Vec a, int64_t n, double mu, const Vec& b, Vec& x);

// Inverse of a symmetric positive definite matrix; empty when it is not positive definite.
Vec spd_inverse(const Vec& a, int64_t n);

}  // namespace paramkit::numeric
