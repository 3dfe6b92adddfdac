#include "paramkit/survival/predict.h"

#include <cmath>
#include <cstdio>

#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"
#include "paramkit/core/rng.h"

namespace paramkit::survival {

void PredictOptions::validate() const {
  for (double t : times)
    if (!(t >= 0) || !std::isfinite(t)) throw UsageError("--times: times must be finite and >= 0");
  for (double q : quantiles)
    if (!(q > 0 && q < 1)) throw UsageError("--quantiles: values must lie in (0, 1)");
}

Table predict(const Model& m, const Table& rows, const PredictOptions& o) {
  o.validate();
  auto params = m.params(rows);
  Table out;
  out.source = rows.source;
  out.rows = rows.rows;
  if (!o.id_column.empty()) out.columns.push_back(rows.col(o.id_column));
  std::vector<double> row_index(rows.rows);
  for (size_t r = 0; r < rows.rows; ++r) row_index[r] = static_cast<double>(r + 1);
  if (o.id_column.empty()) out.columns.push_back(numeric_column("row", row_index));
  for (double t : o.times) {
    std::vector<double> s(rows.rows), h(rows.rows, NAN), H(rows.rows, 0.0);
    if (t > 0) cumhaz_rows(*m.family, t, params, &H, &h);
    for (size_t r = 0; r < rows.rows; ++r) s[r] = std::exp(-H[r]);
    out.columns.push_back(numeric_column("surv_" + short_number(t), s));
    out.columns.push_back(numeric_column("hazard_" + short_number(t), h));
    out.columns.push_back(numeric_column("cumhaz_" + short_number(t), H));
  }
  for (double q : o.quantiles) {
    std::vector<double> v(rows.rows);
    for (size_t r = 0; r < rows.rows; ++r) {
      if ((r & 0xFFFF) == 0) check_stop();
      double t = inverse_cumhaz(*m.family, -std::log1p(-q), params[r]);
      v[r] = std::isfinite(t) ? t : NAN;
    }
    out.columns.push_back(numeric_column("q_" + short_number(q), v));
  }
  return out;
}

Table simulate(const Model& m, const Table& covariates, const SimulateOptions& o) {
  bool needs_rows = false;
  for (const auto& f : m.formulas) needs_rows |= !f.terms.empty();
  if (needs_rows && covariates.rows == 0) throw UsageError("the model has covariates: give rows to simulate for (--data)");
  const size_t n = o.n > 0 ? o.n : covariates.rows;
  if (n == 0) throw UsageError("--n: nothing to simulate");
  // Bounded before allocating: the rows and their CSV (~30 bytes a row) must fit in memory.
  if (n > kMaxSimulatedRows) throw UsageError("--n: at most " + std::to_string(kMaxSimulatedRows) + " rows, got " + std::to_string(n));
  Table base_rows = covariates;
  if (covariates.rows == 0) {
    base_rows.rows = 1;
    base_rows.columns.clear();
  }
  auto params = m.params(base_rows);
  Rng rng(o.seed);
  std::vector<double> time(n), status(n);
  std::vector<size_t> src(n);
  for (size_t i = 0; i < n; ++i) {
    if ((i & 0xFFFF) == 0) check_stop();  // millions of rows: one signal ends the run
    const size_t r = i % base_rows.rows;
    src[i] = r;
    const double e = -std::log1p(-rng.uniform());
    const double t = inverse_cumhaz(*m.family, e, params[r]);
    double c = o.admin;
    if (o.censor_uniform > 0) c = std::min(c, o.censor_uniform * (1 - rng.uniform()));
    if (o.censor_rate > 0) c = std::min(c, -std::log1p(-rng.uniform()) / o.censor_rate);
    if (!std::isfinite(t) && !std::isfinite(c))
      throw UsageError("the model has a cure fraction (some subjects never fail): give a censoring time (--admin, --censor-uniform or --censor-rate)");
    time[i] = std::min(t, c);
    status[i] = t <= c ? 1 : 0;
  }
  Table out;
  out.source = "simulated";
  out.rows = n;
  out.columns.push_back(numeric_column("time", time));
  out.columns.push_back(numeric_column("status", status));
  if (covariates.rows > 0) {
    std::vector<size_t> rows(src.begin(), src.end());
    Table cov = covariates.select_rows(rows);
    for (auto& c : cov.columns) out.columns.push_back(std::move(c));
  }
  return out;
}

}  // namespace paramkit::survival
