// Maximum-likelihood fits of the parametric families with covariates on any parameter (PH through
// lambda, AFT through phi or mu, shape through gamma: multi-parameter regression), right censoring and
// left truncation. Newton-Raphson on the exact Hessian (LibTorch autograd, double precision) with a
// backtracking line search, Levenberg damping as the fallback where the Hessian is not negative
// definite, several starts (nested Weibull fit, kappa values), internally standardised covariates and
// results on the original scale.
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "paramkit/survival/data.h"
#include "paramkit/survival/family.h"

namespace paramkit::survival {

struct FitOptions {
  std::string family = "weibull";
  std::map<std::string, std::string> formulas;  // parameter -> right-hand side; absent: intercept only
  std::map<std::string, double> fixed;          // parameter -> value on the natural scale (e.g. kappa = 1)
  std::map<std::string, std::string> refs;      // column -> reference level
  // parameter -> the flag that gave its formula, for messages (absent: "--<parameter>"); survfit's
  // --formula sets the first parameter's.
  std::map<std::string, std::string> formula_flags;
  std::string formula_flag(const std::string& parameter) const {
    auto it = formula_flags.find(parameter);
    return it == formula_flags.end() ? "--" + parameter : it->second;
  }
  int max_iter = 100;
  double tol = 1e-10;   // relative change of the log-likelihood
  // Above subsample_from rows, the starts run on a systematic subsample of max(subsample_rows,
  // subsample_fraction n) rows and one Newton run on all rows finishes from the best (subsample_from
  // 0: every start on all rows).
  size_t subsample_from = 200000, subsample_rows = 50000;
  double subsample_fraction = 0.1;
  double conf = 0.95;   // confidence level of intervals
};

// A fitted (or given) model: enough to predict and simulate.
struct Model {
  const Family* family = nullptr;
  std::vector<Formula> formulas;              // per parameter
  std::vector<std::optional<double>> fixed;   // per parameter (natural scale)
  std::vector<std::vector<double>> coef;      // per free parameter: link-scale coefficients, original scale
  // Natural-scale parameter values for each row of `data` (rows x parameters).
  std::vector<std::vector<double>> params(const Table& data) const;
  nlohmann::json to_json() const;
  static Model from_json(const nlohmann::json& j, const std::string& source);
  // The model of a report written by 'survfit fit' (its "model" key).
  static Model from_report(const std::string& path);
};

struct FitResult {
  Model model;
  // The fit report (a file format: 'survfit predict' and 'simulate' read its model back): coefficients
  // with se/z/p/CI and an "infinite" flag, loglik, AIC, BIC, iterations, convergence, "degenerate",
  // "warnings", ... Empty when the fit failed (converged false).
  nlohmann::json report;
  // False when there is no estimate: Newton did not converge, the likelihood has no maximum (it grows
  // without bound as a scale runs to 0), or a distribution parameter ran to the edge of its range.
  bool converged = false;
  std::string message;  // "converged", or why not (a phrase after "the <family> fit ...")
  // Coefficients of covariates that may be infinite (a factor level without events, a separating
  // covariate): the fit stands, flagged (degenerate), with one warning per coefficient (also logged).
  bool degenerate = false;
  std::vector<std::string> warnings;
  double loglik = 0, aic = 0;
  int df = 0;
  int iterations = 0;  // of the chosen start
};

// The log-likelihood of the model structure at coefficients theta (original scale, stacked over the
// free parameters in the family's order), with its gradient and Hessian (autograd): for checks.
struct LoglikValue {
  double value = 0;
  std::vector<double> grad, hess;  // hess row-major
};
LoglikValue evaluate_loglik(const SurvData& data, const FitOptions& options, const std::vector<double>& theta);

// Fits; UsageError for unknown parameters in formulas/fixed, InputError for collinear covariates.
FitResult fit_parametric(const SurvData& data, const FitOptions& options);

struct LikelihoodRatio {
  double statistic = 0;
  int df = 0;  // difference in free parameters
  double p = 1;
  double loglik_full = 0, loglik_nested = 0;
};
// {"statistic", "df", "p", "loglik_full", "loglik_nested"}
void to_json(nlohmann::json& j, const LikelihoodRatio& r);

// Likelihood-ratio test of a nested fit against a larger one (reports of fit_parametric).
LikelihoodRatio likelihood_ratio(const nlohmann::json& full, const nlohmann::json& nested);

}  // namespace paramkit::survival
