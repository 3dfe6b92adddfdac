// Distribution functions the survival tools report with: the standard normal (cdf, quantile, log
// survival) and the chi-square upper tail, in double precision.
#pragma once

namespace paramkit::survival {

double normal_cdf(double x);
// log(1 - Phi(x)), accurate far into the upper tail.
double normal_log_sf(double x);
// Phi^-1(p), p in (0, 1): Acklam's rational approximation refined by one Halley step (~1e-15).
double normal_quantile(double p);
// Two-sided p-value of a z statistic.
double two_sided_p(double z);
// P(X > x) for X ~ chi-square(df): the regularised upper incomplete gamma Q(df/2, x/2).
double chi2_sf(double x, double df);

}  // namespace paramkit::survival
