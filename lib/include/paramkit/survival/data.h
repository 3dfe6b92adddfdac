// Survival data from a CSV table: times, event indicators (R's Surv coding rules), optional entry
// times (left truncation), the rows kept after NA handling; and design matrices from per-parameter
// formulas ("trt + karno + factor(celltype, ref=large)") with treatment coding and the column
// standardisation the fitters use internally.
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "paramkit/io/csv.h"

namespace paramkit::survival {

struct SurvSpec {
  std::string time = "time", status = "status";
  std::string entry;                  // entry-time column (left truncation); empty: none
  std::optional<double> event_value;  // unset: R's rule (0/1 data: 1 = event; 1/2 data: 2 = event)
  bool na_fail = false;               // a missing value is an error instead of dropping the row
  bool positive_times = true;         // parametric fits need t > 0; KM and Cox accept t >= 0
};

struct SurvData {
  std::string source;
  std::vector<double> time, entry;  // entry empty when there is none
  std::vector<uint8_t> event;
  Table rows;                       // the kept rows, every column
  size_t dropped = 0;               // rows dropped for missing values
  size_t n() const { return time.size(); }
  size_t events() const;
};

// Reads the survival columns and keeps the rows where they and `columns` are all present. InputError
// (naming the file, column and row) for absent or non-numeric columns, negative (or, for parametric
// fits, zero) times, entry >= time, status values outside the coding, and no events at all.
SurvData load_surv(const Table& table, const SurvSpec& spec, const std::vector<std::string>& columns);

// One right-hand-side term: a numeric column, or a categorical one (string column or factor(x)) in
// treatment coding against a reference level (R's default: the first level in sorted order).
struct Term {
  std::string column;
  bool factor_syntax = false;  // written factor(x): dummy names are "factor(x)<level>" as in R
  bool categorical = false;
  std::string ref;                  // reference level; empty: the first
  std::vector<std::string> levels;  // all levels, sorted as R sorts factor levels (numerically for numbers)
  std::vector<std::string> names() const;  // design column names (one per non-reference level)
};

struct Formula {
  std::string text;
  std::vector<Term> terms;  // main effects; the intercept is always included
  // Interactions, each the indexes of its (two or three) main-effect terms, ordered as R orders them:
  // after the main effects, two-way before three-way, each term's columns in the order the variables
  // first appear in the formula. Every interaction's lower-order terms are in the formula too.
  std::vector<std::vector<size_t>> interactions;
  // strata(a) or strata(a, b) terms (Cox models only): the columns whose level combinations define the
  // strata, in the order written. Not part of the design.
  std::vector<std::string> strata;
  std::vector<std::string> columns() const;  // main-effect columns, then strata columns
  // The design's column names after the intercept, R's names: each main term's, then each
  // interaction's products ("trt:karno", "karno:celltypelarge"), the first component varying fastest.
  std::vector<std::string> names() const;
};

// "~ a + factor(b) + factor(c, ref=x) + a:b + c*d + strata(e)", "1" or "" (intercept only); a*b is
// a + b + a:b, a*b*c every product of them. UsageError naming `what`.
Formula parse_formula(const std::string& text, const std::string& what);
// Fills in which terms are categorical and their levels from the data; refs: column -> reference level
// (from --ref), overriding ref= in the formula.
void resolve_formula(Formula& f, const Table& data, const std::map<std::string, std::string>& refs);

nlohmann::json formula_to_json(const Formula& f);
Formula formula_from_json(const nlohmann::json& j, const std::string& source);

struct Design {
  std::vector<std::string> names;  // "(Intercept)" first
  int64_t rows = 0, cols = 0;
  std::vector<double> x;              // row-major, original scale
  std::vector<double> center, scale;  // standardisation per column (0/1 for the intercept and dummies)
  double at(int64_t r, int64_t c) const { return x[static_cast<size_t>(r * cols + c)]; }
};

// The design matrix of data rows; InputError for levels not seen when the formula was resolved.
// standardize: numeric columns get their mean and standard deviation as center/scale.
Design build_design(const Formula& f, const Table& data, bool standardize);
// InputError naming the first column that is (numerically) a linear combination of earlier ones,
// or constant.
void check_collinear(const Design& d, const std::string& source, const std::string& parameter);

}  // namespace paramkit::survival
