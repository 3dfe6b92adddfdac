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
  // S(t) with its standard error, confidence limits and the number at risk at t, as R's
  // summary(survfit, times = t): the row of the last time <= t (before the first: S = 1, se = 0);
  // n_risk counts the subjects with time >= t.
  struct AtTime {
    double time = 0, n_risk = 0, surv = 1, std_err = 0, lower = 1, upper = 1;
  };
  AtTime summary_at(double t) const;
  // {"n", "events", "median", "median_lower", "median_upper", "table": [row(0), row(1), ...]}; without
  // the table when with_table is false (a caller that streams the rows).
  nlohmann::json to_json(bool with_table = true) const;
  // {"time", "n_risk", "n_event", "n_censor", "surv", "std_err", "lower", "upper"} (null where undefined).
  nlohmann::json row(size_t i) const;
};

KaplanMeier kaplan_meier(const std::vector<double>& time, const std::vector<uint8_t>& event, double conf = 0.95);

struct Concordance {
  double concordant = 0, discordant = 0, tied_risk = 0;
  double c() const { return (concordant + 0.5 * tied_risk) / (concordant + discordant + tied_risk); }
};
// {"c", "concordant", "discordant", "tied_risk"}
void to_json(nlohmann::json& j, const Concordance& c);

struct CoxOptions {
  std::string ties = "efron";  // efron or breslow
  int max_iter = 50;
  double tol = 1e-11;
  double conf = 0.95;
};

struct CoxCoefficient {
  std::string term;
  double coef = 0, exp_coef = 0, se = 0, z = 0, p = 0, exp_lower = 0, exp_upper = 0;  // CI of exp(coef)
  // R's "coefficient may be infinite" (coxph.fit): the partial likelihood converged while this
  // coefficient kept growing (a factor level whose rows are all censored, a separating covariate).
  bool infinite = false;
};

struct CoxStratum {
  std::string name;  // R's label: "celltype=adeno", "sex=1, ph.ecog=0"
  size_t n = 0, events = 0;
};

struct CoxResult {
  std::string ties;
  size_t n = 0, events = 0, dropped_na = 0;
  std::string formula;  // empty for a model without covariates
  bool counting = false;             // (start, stop] rows (entry times given): risk sets start < t <= stop
  std::vector<std::string> strata_columns;
  std::vector<CoxStratum> strata;    // empty without strata()
  std::vector<CoxCoefficient> coefficients;
  double loglik_null = 0, loglik = 0;
  double lr_statistic = 0, lr_p = 0;  // likelihood-ratio test against the null model, on lr_df df
  int64_t lr_df = 0;
  Concordance concordance;
  int iterations = 0;
  bool converged = false;
  double conf_level = 0.95;
  bool degenerate = false;            // some coefficient may be infinite
  std::vector<std::string> warnings;  // one per such coefficient (also logged)
};
// The Cox report: {"model": "cox", ties, n, events, dropped_na, formula, counting, strata {columns,
// levels [{name, n, events}]} (null without strata), coefficients (each with "infinite"), loglik_null,
// loglik, lr_test {statistic, df, p}, concordance, iterations, converged, degenerate, warnings,
// conf_level}.
void to_json(nlohmann::json& j, const CoxResult& r);

// Strata from formula.strata (a separate baseline hazard per level combination, as R's strata()); with
// data.entry, (start, stop] counting-process rows (time-varying covariates, left truncation): a row is
// at risk at t when start < t <= stop, as R's coxph(Surv(start, stop, event) ~ ...).
// InputError for collinear covariates.
CoxResult fit_cox(const SurvData& data, const Formula& formula, const CoxOptions& options);

// risk: higher means shorter expected survival. O(n log n). With entry times (the start of (start, stop]
// intervals, left truncation) an event at t is compared with the rows at risk at t (start < t <= stop);
// with strata (one id per row) only rows of the same stratum are compared, as R's concordance does.
Concordance concordance(const std::vector<double>& time, const std::vector<uint8_t>& event, const std::vector<double>& risk,
                        const std::vector<double>& entry = {}, const std::vector<size_t>& stratum = {});

}  // namespace paramkit::survival
