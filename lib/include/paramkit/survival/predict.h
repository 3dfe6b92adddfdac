// Predictions of a fitted (or given) parametric model for new covariate rows, and simulation of
// survival data from it (inverse cumulative hazard of Exp(1) draws; a cured subject never fails).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "paramkit/io/csv.h"
#include "paramkit/survival/fit.h"

namespace paramkit::survival {

struct PredictOptions {
  std::vector<double> times;      // S(t), h(t), H(t) at each
  std::vector<double> quantiles;  // time by which this fraction has failed (0.5: the median)
  std::string id_column;          // copied to the output when given
  // UsageError naming the flag: times finite and >= 0, quantiles in (0, 1).
  void validate() const;
};

// One row per input row: [id], then surv_<t>, hazard_<t>, cumhaz_<t> per time and q_<p> per quantile
// (empty: never reached, e.g. beyond a cure fraction).
Table predict(const Model& model, const Table& rows, const PredictOptions& options);

struct SimulateOptions {
  size_t n = 0;                 // rows to simulate (0: one per covariate row)
  uint64_t seed = 0;
  double censor_uniform = 0;    // > 0: censoring times uniform on (0, this)
  double censor_rate = 0;       // > 0: exponential censoring times with this rate
  double admin = INFINITY;      // administrative censoring time
};

constexpr size_t kMaxSimulatedRows = 100000000;  // 1e8 rows: ~3 GB of CSV
// UsageError beyond kMaxSimulatedRows. Covariate rows are cycled when n exceeds them; an intercept-only model needs none (empty table).
// Columns: time, status (1 event, 0 censored), then the covariates.
Table simulate(const Model& model, const Table& covariates, const SimulateOptions& options);

}  // namespace paramkit::survival
