#include "paramkit/numeric/dense.h"

#include <algorithm>
#include <cmath>

namespace paramkit::numeric {

bool cholesky_solve(Vec a, int64_t n, double mu, const Vec& b, Vec& x) {
  for (int64_t i = 0; i < n; ++i) a[i * n + i] += mu;
  for (int64_t j = 0; j < n; ++j) {
    double s = a[j * n + j];
    for (int64_t k = 0; k < j; ++k) s -= a[j * n + k] * a[j * n + k];
    if (!(s > 0) || !std::isfinite(s)) return false;
    a[j * n + j] = std::sqrt(s);
    for (int64_t i = j + 1; i < n; ++i) {
      double v = a[i * n + j];
      for (int64_t k = 0; k < j; ++k) v -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = v / a[j * n + j];
    }
  }
  x = b;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < i; ++k) x[i] -= a[i * n + k] * x[k];
    x[i] /= a[i * n + i];
  }
  for (int64_t i = n - 1; i >= 0; --i) {
    for (int64_t k = i + 1; k < n; ++k) x[i] -= a[k * n + i] * x[k];
    x[i] /= a[i * n + i];
  }
  return std::all_of(x.begin(), x.end(), [](double v) { return std::isfinite(v); });
}

Vec spd_inverse(const Vec& a, int64_t n) {
  Vec inv(n * n), e(n), col;
  for (int64_t c = 0; c < n; ++c) {
    std::fill(e.begin(), e.end(), 0.0);
    e[c] = 1;
    if (!cholesky_solve(a, n, 0, e, col)) return {};
    for (int64_t r = 0; r < n; ++r) inv[r * n + c] = col[r];
  }
  return inv;
}

}  // namespace paramkit::numeric
