#include "paramkit/survival/data.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "paramkit/core/error.h"
#include "paramkit/core/log.h"

namespace paramkit::survival {
namespace {
std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}
std::string num_str(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}
std::string row_field(const std::string& col, size_t row) { return "column '" + col + "', data row " + std::to_string(row + 1); }
}  // namespace

size_t SurvData::events() const { return static_cast<size_t>(std::count(event.begin(), event.end(), 1)); }

SurvData load_surv(const Table& table, const SurvSpec& spec, const std::vector<std::string>& columns) {
  std::vector<std::string> need = {spec.time, spec.status};
  if (!spec.entry.empty()) need.push_back(spec.entry);
  for (const auto& c : columns)
    if (std::find(need.begin(), need.end(), c) == need.end()) need.push_back(c);
  for (const auto& c : need) table.col(c);  // InputError naming the file and column when absent
  for (const auto& c : {spec.time, spec.status}) table.numeric(c);
  if (!spec.entry.empty()) table.numeric(spec.entry);
  std::vector<size_t> keep;
  size_t dropped = 0;
  for (size_t r = 0; r < table.rows; ++r) {
    bool complete = true;
    for (const auto& c : need) {
      if (table.col(c).missing[r]) {
        if (spec.na_fail) throw InputError(table.source, row_field(c, r), "missing value (NA); without --na fail such rows are dropped");
        complete = false;
      }
    }
    if (complete) keep.push_back(r);
    else ++dropped;
  }
  SurvData d;
  d.source = table.source;
  d.dropped = dropped;
  d.rows = table.select_rows(keep);
  const Column& tc = d.rows.numeric(spec.time);
  const Column& sc = d.rows.numeric(spec.status);
  std::set<double> codes(sc.values.begin(), sc.values.end());
  double event_value = 1;
  if (spec.event_value) {
    event_value = *spec.event_value;
  } else if (!codes.empty() && std::all_of(codes.begin(), codes.end(), [](double v) { return v == 1 || v == 2; }) && codes.count(2)) {
    event_value = 2;  // R's Surv: 1 = censored, 2 = event
  }
  const double censor_value = spec.event_value ? NAN : (event_value == 2 ? 1 : 0);
  for (size_t i = 0; i < d.rows.rows; ++i) {
    const size_t orig = keep[i];
    const double t = tc.values[i], s = sc.values[i];
    if (!std::isfinite(t) || t < 0 || (spec.positive_times && t == 0))
      throw InputError(table.source, row_field(spec.time, orig),
                       "time " + num_str(t) + (spec.positive_times ? " must be positive (log-time models)" : " must be non-negative"));
    bool ev;
    if (s == event_value) ev = true;
    else if (spec.event_value ? s != event_value : s == censor_value) ev = false;
    else
      throw InputError(table.source, row_field(spec.status, orig),
                       "status " + num_str(s) + " is outside the coding (" +
                           (event_value == 2 ? std::string("1 = censored, 2 = event") : std::string("0 = censored, 1 = event")) +
                           "; --event-value sets the event code)");
    d.time.push_back(t);
    d.event.push_back(ev ? 1 : 0);
    if (!spec.entry.empty()) {
      const double e = d.rows.numeric(spec.entry).values[i];
      if (!(e >= 0 && e < t))
        throw InputError(table.source, row_field(spec.entry, orig), "entry time " + num_str(e) + " must lie in [0, time)");
      d.entry.push_back(e);
    }
  }
  if (d.n() == 0) throw InputError(table.source, "", "no complete rows (every row has a missing value)");
  if (d.events() == 0) throw InputError(table.source, "column '" + spec.status + "'", "every observation is censored: nothing to fit");
  if (dropped > 0) log::warn("{}: {} rows with missing values dropped ({} kept)", table.source, dropped, d.n());
  return d;
}

std::vector<std::string> Term::names() const {
  if (!categorical) return {column};
  std::vector<std::string> out;
  const std::string prefix = factor_syntax ? "factor(" + column + ")" : column;
  for (const auto& l : levels)
    if (l != ref) out.push_back(prefix + l);
  return out;
}

std::vector<std::string> Formula::columns() const {
  std::vector<std::string> c;
  for (const auto& t : terms) c.push_back(t.column);
  return c;
}

Formula parse_formula(const std::string& text, const std::string& what) {
  Formula f;
  f.text = trim(text);
  std::string s = f.text;
  if (!s.empty() && s[0] == '~') s = trim(s.substr(1));
  if (s.empty() || s == "1") return f;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t depth = 0, e = pos;
    for (; e < s.size(); ++e) {
      if (s[e] == '(') ++depth;
      else if (s[e] == ')') --depth;
      else if (s[e] == '+' && depth == 0) break;
    }
    std::string tok = trim(s.substr(pos, e - pos));
    pos = e + 1;
    if (tok.empty()) throw UsageError(what + ": empty term in formula '" + f.text + "'");
    if (tok == "1") continue;
    Term t;
    if (tok.rfind("factor(", 0) == 0) {
      if (tok.back() != ')') throw UsageError(what + ": unclosed factor( in '" + tok + "'");
      std::string inner = tok.substr(7, tok.size() - 8);
      size_t comma = inner.find(',');
      t.column = trim(inner.substr(0, comma));
      t.factor_syntax = true;
      t.categorical = true;
      if (comma != std::string::npos) {
        std::string arg = trim(inner.substr(comma + 1));
        if (arg.rfind("ref", 0) != 0 || arg.find('=') == std::string::npos)
          throw UsageError(what + ": expected factor(x) or factor(x, ref=level), got '" + tok + "'");
        std::string ref = trim(arg.substr(arg.find('=') + 1));
        if (ref.size() >= 2 && (ref[0] == '"' || ref[0] == '\'')) ref = ref.substr(1, ref.size() - 2);
        t.ref = ref;
      }
    } else {
      for (char c : tok)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'))
          throw UsageError(what + ": term '" + tok + "' is not a column name or factor(column) (interactions and transformations are not supported)");
      t.column = tok;
    }
    if (t.column.empty()) throw UsageError(what + ": empty column name in '" + tok + "'");
    for (const auto& o : f.terms)
      if (o.column == t.column) throw UsageError(what + ": column '" + t.column + "' appears twice");
    f.terms.push_back(t);
  }
  return f;
}

void resolve_formula(Formula& f, const Table& data, const std::map<std::string, std::string>& refs) {
  for (auto& t : f.terms) {
    const Column& c = data.col(t.column);
    if (!c.numeric) t.categorical = true;
    auto r = refs.find(t.column);
    if (r != refs.end()) {
      t.categorical = true;
      t.ref = r->second;
    }
    if (!t.categorical) continue;
    std::vector<std::string> lv;
    if (c.numeric) {
      std::set<double> v;
      for (size_t i = 0; i < c.size(); ++i)
        if (!c.missing[i]) v.insert(c.values[i]);
      for (double x : v) lv.push_back(num_str(x));
    } else {
      lv = c.levels();
    }
    if (lv.size() < 2)
      throw InputError(data.source, "column '" + t.column + "'", "a categorical covariate needs at least two levels, found " + std::to_string(lv.size()));
    if (t.ref.empty()) t.ref = lv[0];
    if (std::find(lv.begin(), lv.end(), t.ref) == lv.end())
      throw UsageError("reference level '" + t.ref + "' of '" + t.column + "' is not among its levels");
    t.levels = lv;
  }
}

nlohmann::json formula_to_json(const Formula& f) {
  nlohmann::json terms = nlohmann::json::array();
  for (const auto& t : f.terms)
    terms.push_back({{"column", t.column}, {"categorical", t.categorical}, {"factor_syntax", t.factor_syntax},
                     {"levels", t.levels}, {"ref", t.ref}});
  return {{"text", f.text}, {"terms", terms}};
}

Formula formula_from_json(const nlohmann::json& j, const std::string& source) {
  try {
    Formula f;
    f.text = j.at("text").get<std::string>();
    for (const auto& t : j.at("terms")) {
      Term x;
      x.column = t.at("column").get<std::string>();
      x.categorical = t.at("categorical").get<bool>();
      x.factor_syntax = t.at("factor_syntax").get<bool>();
      x.levels = t.at("levels").get<std::vector<std::string>>();
      x.ref = t.at("ref").get<std::string>();
      f.terms.push_back(x);
    }
    return f;
  } catch (const nlohmann::json::exception& e) {
    throw InputError(source, "formula", std::string("malformed: ") + e.what());
  }
}

Design build_design(const Formula& f, const Table& data, bool standardize) {
  Design d;
  d.rows = static_cast<int64_t>(data.rows);
  d.names.push_back("(Intercept)");
  for (const auto& t : f.terms)
    for (const auto& n : t.names()) d.names.push_back(n);
  d.cols = static_cast<int64_t>(d.names.size());
  d.x.assign(static_cast<size_t>(d.rows * d.cols), 0.0);
  d.center.assign(d.cols, 0.0);
  d.scale.assign(d.cols, 1.0);
  for (int64_t r = 0; r < d.rows; ++r) d.x[r * d.cols] = 1.0;
  int64_t col = 1;
  for (const auto& t : f.terms) {
    const Column& c = data.col(t.column);
    if (!t.categorical) {
      if (!c.numeric) throw InputError(data.source, "column '" + t.column + "'", "the model was fitted with it numeric, here it is not");
      double sum = 0, sq = 0;
      for (int64_t r = 0; r < d.rows; ++r) {
        double v = c.values[r];
        d.x[r * d.cols + col] = v;
        sum += v;
      }
      if (standardize && d.rows > 1) {
        double mean = sum / d.rows;
        for (int64_t r = 0; r < d.rows; ++r) sq += (c.values[r] - mean) * (c.values[r] - mean);
        double sd = std::sqrt(sq / (d.rows - 1));
        d.center[col] = mean;
        d.scale[col] = sd > 0 ? sd : 1.0;
      }
      ++col;
      continue;
    }
    std::vector<std::string> keep;
    for (const auto& l : t.levels)
      if (l != t.ref) keep.push_back(l);
    for (int64_t r = 0; r < d.rows; ++r) {
      std::string v = c.numeric ? num_str(c.values[r]) : c.strings[r];
      if (std::find(t.levels.begin(), t.levels.end(), v) == t.levels.end())
        throw InputError(data.source, "column '" + t.column + "', data row " + std::to_string(r + 1),
                         "level '" + v + "' was not in the fitted data");
      for (size_t k = 0; k < keep.size(); ++k) d.x[r * d.cols + col + static_cast<int64_t>(k)] = v == keep[k] ? 1.0 : 0.0;
    }
    col += static_cast<int64_t>(keep.size());
  }
  return d;
}

void check_collinear(const Design& d, const std::string& source, const std::string& parameter) {
  // Gram-Schmidt on the standardised columns: a column whose residual on the earlier ones is ~0 is
  // (numerically) a linear combination of them.
  const int64_t n = d.rows, p = d.cols;
  std::vector<std::vector<double>> q;
  for (int64_t c = 0; c < p; ++c) {
    std::vector<double> v(n);
    double norm0 = 0;
    for (int64_t r = 0; r < n; ++r) {
      v[r] = (d.at(r, c) - d.center[c]) / d.scale[c];
      if (c == 0) v[r] = 1.0;
      norm0 += v[r] * v[r];
    }
    for (const auto& u : q) {
      double dot = 0;
      for (int64_t r = 0; r < n; ++r) dot += u[r] * v[r];
      for (int64_t r = 0; r < n; ++r) v[r] -= dot * u[r];
    }
    double norm = 0;
    for (double x : v) norm += x * x;
    if (norm0 == 0 || norm <= 1e-10 * norm0) {
      std::string earlier;
      for (int64_t k = 0; k < c; ++k) earlier += (k ? ", " : "") + d.names[k];
      throw InputError(source, "covariate '" + d.names[c] + "' of " + parameter,
                       c == 0 ? "no rows" : "is constant or a linear combination of " + earlier + " (collinear); drop it");
    }
    norm = std::sqrt(norm);
    for (double& x : v) x /= norm;
    q.push_back(std::move(v));
  }
}

}  // namespace paramkit::survival
