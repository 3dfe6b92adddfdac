// What the survival analyses read and report: survival data loaded from a CSV for each kind of fit,
// Kaplan-Meier per group, a given model for simulation, readable summaries, and plots of curves over
// Kaplan-Meier.
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "paramkit/io/csv.h"
#include "paramkit/survival/fit.h"
#include "paramkit/survival/nonparam.h"

namespace paramkit::survival {

// Where the survival columns are and how to read them (the data flags of fit, km and cox).
struct DataOptions {
  std::string time = "time", status = "status";
  std::string entry;                      // entry-time column (left truncation); empty: none
  std::optional<double> event_value;      // unset: R's rule (0/1 -> 1, 1/2 -> 2)
  bool na_fail = false;                   // a missing value is an error instead of dropping the row
  std::map<std::string, std::string> refs;  // column -> reference level
  double conf = 0.95;                     // confidence level of intervals
  // UsageError for a confidence level outside [0.5, 0.9999].
  void validate() const;
  SurvSpec spec(bool positive_times) const;
};

// Reads the CSV and the survival columns plus `columns`.
SurvData load_data(const std::string& path, const DataOptions& o, const std::vector<std::string>& columns, bool positive_times);
// The same for a parametric fit: every column its formulas name; also sets o.refs and o.conf.
SurvData load_for_fit(const std::string& path, const DataOptions& d, FitOptions& o);

struct KmCurve {
  std::string group;  // a level of the --by column, or "all"
  KaplanMeier km;
  std::vector<KaplanMeier::AtTime> at;  // S(t), its se and CI at the requested times
};

struct KmReport {
  std::string data, by;
  size_t dropped_na = 0;
  double conf_level = 0.95;
  std::vector<KmCurve> curves;  // levels of `by` in sorted order
};
// {"data", "by", "dropped_na", "conf_level", "curves": [{group, ...KaplanMeier::to_json(),
//   "at": [{time, n_risk, surv, std_err, lower, upper}]}]} (undefined limits: null)
void to_json(nlohmann::json& j, const KmReport& r);

// Writes the report of to_json(r) stamped with the run's provenance, the bytes io/json.h's write_report
// writes, streaming the survival tables row by row with stop checks: a table of millions of rows is
// neither built as one JSON tree nor dumped in one uninterruptible call (one SIGTERM ends the write,
// and the temp file goes).
void write_km_report(const std::string& path, const KmReport& r);
// Kaplan-Meier per level of column `by` (one curve "all" when empty), with S(t) at `times`.
KmReport run_km(const std::string& path, const DataOptions& o, const std::string& by, const std::vector<double>& times);
// The survival tables of every curve as one table with a group column.
Table km_table(const KmReport& r);
std::string km_plot_svg(const KmReport& r, const std::string& title);
// Fitted survival (averaged over the rows, per level of `by` when given) over the Kaplan-Meier curves.
std::string fit_plot_svg(const SurvData& data, const FitResult& fit, const std::string& by);

// A given model for simulation: every parameter of `family` at a value on its natural scale.
// UsageError for unknown families, missing or unknown parameters and values outside a parameter's range.
Model given_model(const std::string& family, const std::map<std::string, double>& values);

// Readable summaries (--table).
std::string format_fit(const nlohmann::json& report);
std::string format_km(const KmReport& r);
std::string format_cox(const CoxResult& r);

}  // namespace paramkit::survival
