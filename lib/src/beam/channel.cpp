// The HMT channel.
#include "paramkit/beam/channel.h"

#include <fmt/format.h>

#include <cmath>

#include "paramkit/core/error.h"

namespace paramkit::beam {

double dirichlet_sq(int64_t n, double x) {
  const double s = std::sin(x / 2);
  if (std::abs(s) < 1e-12) return static_cast<double>(n) * static_cast<double>(n);
  const double v = std::sin(static_cast<double>(n) * x / 2) / s;
  return v * v;
}

void Channel::validate() const {
  if (n1 < 1 || n1 > 4096 || n2 < 1 || n2 > 4096) throw UsageError(fmt::format("--n1/--n2 {}x{}: each must be in [1, 4096]", n1, n2));
  if (oversample < 1 || oversample > 64) throw UsageError("--oversample must be in [1, 64]");
  if (noise != "gaussian" && noise != "lognormal") throw UsageError(fmt::format("--noise '{}': expected gaussian or lognormal", noise));
  if (!(sigma >= 0) || !std::isfinite(sigma) || sigma > 1e6) throw UsageError("--sigma must be in [0, 1e6]");
  if (!std::isfinite(snr_db) || std::abs(snr_db) > 300) throw UsageError("--snr-db must be in [-300, 300]");
}

double Channel::psi1(int64_t i) const { return 2 * M_PI * static_cast<double>(i) / static_cast<double>(k1()); }
double Channel::psi2(int64_t j) const { return 2 * M_PI * static_cast<double>(j) / static_cast<double>(k2()); }
double Channel::factor1(int64_t i, double s1) const { return dirichlet_sq(n1, psi1(i) - s1) / static_cast<double>(n1 * n1); }
double Channel::factor2(int64_t j, double s2) const { return dirichlet_sq(n2, psi2(j) - s2) / static_cast<double>(n2 * n2); }
double Channel::gain(int64_t i, int64_t j, double s1, double s2) const { return factor1(i, s1) * factor2(j, s2); }
double Channel::rate(double g) const { return std::log2(1 + std::pow(10.0, snr_db / 10) * g); }

}  // namespace paramkit::beam
