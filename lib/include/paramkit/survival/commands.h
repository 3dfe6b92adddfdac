// The survfit command layer: option structs with their flags (shared by the subcommands), loading of
// survival data for each kind of fit, readable tables, and plots of curves over Kaplan-Meier.
#pragma once
#include <CLI/CLI.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "paramkit/io/csv.h"
#include "paramkit/survival/fit.h"
#include "paramkit/survival/predict.h"

namespace paramkit::survival {

// "30,90,180" -> numbers (UsageError naming the flag).
std::vector<double> parse_list(const std::string& s, const std::string& flag);

struct DataOptions {
  std::string time = "time", status = "status", entry;
  double event_value = NAN;  // NaN: R's rule
  std::string na = "drop";
  std::vector<std::string> refs;  // column=level
  double conf = 0.95;
  void register_flags(CLI::App& app);
  std::map<std::string, std::string> ref_map() const;
  SurvSpec spec(bool positive_times) const;
};

// Reads the CSV and the survival columns plus `columns`.
SurvData load_data(const std::string& path, const DataOptions& o, const std::vector<std::string>& columns, bool positive_times);
// The same for a parametric fit: every column its formulas name; also sets o.refs and o.conf.
SurvData load_for_fit(const std::string& path, const DataOptions& d, FitOptions& o);

struct FitCommand {
  std::string family = "weibull";
  std::string formula;                         // the family's first parameter (mu, lambda or rate)
  std::map<std::string, std::string> by_param;  // --lambda, --phi, --gamma, --kappa, --mu, --scale, --rate, --shape
  std::vector<std::string> fixed;               // name=value
  int max_iter = 100;
  std::string plot, plot_by;
  void register_flags(CLI::App& app);
  FitOptions options() const;
};

struct SimulateCommand {
  std::string fit_path, family;
  std::vector<std::string> set;  // name=value (natural scale), for --family
  size_t n = 0;
  double censor_uniform = 0, censor_rate = 0, admin = INFINITY;
  void register_flags(CLI::App& app);
  Table run(const Table& covariates, uint64_t seed) const;
};

// Kaplan-Meier per group (one curve without --by): {"curves": [{group, ...KaplanMeier::to_json(), at}]}.
nlohmann::json run_km(const std::string& path, const DataOptions& o, const std::string& by, const std::vector<double>& times);
Table km_table(const nlohmann::json& km_report);
std::string km_plot_svg(const nlohmann::json& km_report, const std::string& title);
// Fitted survival at the covariate means (or per level of `by`, other covariates at their means) over
// the Kaplan-Meier curves.
std::string fit_plot_svg(const SurvData& data, const FitResult& fit, const std::string& by);

std::string format_fit(const nlohmann::json& report);
std::string format_km(const nlohmann::json& report);
std::string format_cox(const nlohmann::json& report);

}  // namespace paramkit::survival
