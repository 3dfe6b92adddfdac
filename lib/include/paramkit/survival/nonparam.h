// Kaplan-Meier (Greenwood variance, log-scale confidence intervals and median as R's survfit), Cox
// proportional hazards (Efron or Breslow ties, Newton-Raphson as R's coxph) and Harrell's
// concordance index (as R's concordance(): tied risks count one half, tied times are not comparable
// unless one of the two is censored).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "paramkit/survival/data.h"

namespace paramkit::survival {

struct KaplanMeier {
  std::vector<double> time;  // distinct observed times (events or censorings), ascending
  std::vector<double> n_risk, n_event, n_censor, surv, std_err, lower, upper;
  // std_err: of S (Greenwood, as summary.survfit prints); CI: exp(log S -/+ z se(log S)) capped at 1.
  double median = NAN, median_lower = NAN, median_upper = NAN;
  double at(double t) const;  // S(t) (right-continuous step function)
  nlohmann::json to_json() const;
};

KaplanMeier kaplan_meier(const std::vector<double>& time, const std::vector<uint8_t>& event, double conf = 0.95);

struct CoxOptions {
  std::string ties = "efron";  // efron or breslow
  int max_iter = 50;
  double tol = 1e-11;
  double conf = 0.95;
};

// InputError for collinear covariates; the report has coef, exp(coef), se, z, p, CI of exp(coef),
// loglik (null and fitted), likelihood-ratio test, concordance, iterations, convergence.
nlohmann::json fit_cox(const SurvData& data, const Formula& formula, const CoxOptions& options);

struct Concordance {
  double concordant = 0, discordant = 0, tied_risk = 0;
  double c() const { return (concordant + 0.5 * tied_risk) / (concordant + discordant + tied_risk); }
};
// risk: higher means shorter expected survival. O(n log n).
Concordance concordance(const std::vector<double>& time, const std::vector<uint8_t>& event, const std::vector<double>& risk);

}  // namespace paramkit::survival
