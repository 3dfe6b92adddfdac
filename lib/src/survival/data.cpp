#include "paramkit/survival/data.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/signals.h"

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
std::string row_field(const Table& t, const std::string& col, size_t row) { return "column '" + col + "', " + t.where(row); }
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
    if ((r & 0xFFFF) == 0) check_stop();
    bool complete = true;
    for (const auto& c : need) {
      if (table.col(c).missing[r]) {
        if (spec.na_fail) throw InputError(table.source, row_field(table, c, r), "missing value (NA); without --na fail such rows are dropped");
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
    if ((i & 0xFFFF) == 0) check_stop();
    const size_t orig = keep[i];
    const double t = tc.values[i], s = sc.values[i];
    if (!std::isfinite(t) || t < 0 || (spec.positive_times && t == 0))
      throw InputError(table.source, row_field(table, spec.time, orig),
                       "time " + num_str(t) + (spec.positive_times ? " must be positive (log-time models)" : " must be non-negative"));
    bool ev;
    if (s == event_value) ev = true;
    else if (spec.event_value ? s != event_value : s == censor_value) ev = false;
    else
      throw InputError(table.source, row_field(table, spec.status, orig),
                       "status " + num_str(s) + " is outside the coding (" +
                           (event_value == 2 ? std::string("1 = censored, 2 = event") : std::string("0 = censored, 1 = event")) +
                           "; --event-value sets the event code)");
    d.time.push_back(t);
    d.event.push_back(ev ? 1 : 0);
    if (!spec.entry.empty()) {
      const double e = d.rows.numeric(spec.entry).values[i];
      if (!(e >= 0 && e < t))
        throw InputError(table.source, row_field(table, spec.entry, orig), "entry time " + num_str(e) + " must lie in [0, time)");
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

std::vector<std::string> Formula::names() const {
  std::vector<std::string> out;
  for (const auto& t : terms)
    for (const auto& n : t.names()) out.push_back(n);
  for (const auto& in : interactions) {
    // The products of the components' columns, the first component varying fastest (R's order).
    std::vector<std::string> acc = {""};
    for (size_t part : in) {
      std::vector<std::string> next;
      for (const auto& n : terms[part].names())
        for (const auto& a : acc) next.push_back(a.empty() ? n : a + ":" + n);
      acc = next;
    }
    out.insert(out.end(), acc.begin(), acc.end());
  }
  return out;
}

std::vector<std::string> Formula::columns() const {
  std::vector<std::string> c;
  for (const auto& t : terms) c.push_back(t.column);
  for (const auto& s : strata)
    if (std::find(c.begin(), c.end(), s) == c.end()) c.push_back(s);
  return c;
}

namespace {
// One column of a formula: a column name or factor(column[, ref=level]).
Term parse_term(const std::string& tok, const std::string& what) {
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
        throw UsageError(what + ": term '" + tok +
                         "' is not a column name, factor(column) or an interaction a:b, a*b (transformations are not supported)");
    t.column = tok;
  }
  if (t.column.empty()) throw UsageError(what + ": empty column name in '" + tok + "'");
  return t;
}

// Splits s at depth-0 occurrences of any of `seps`; the separator before each piece is returned too.
std::vector<std::pair<char, std::string>> split_top(const std::string& s, const std::string& seps) {
  std::vector<std::pair<char, std::string>> out;
  int depth = 0;
  size_t start = 0;
  char sep = 0;
  for (size_t e = 0; e <= s.size(); ++e) {
    if (e < s.size() && s[e] == '(') ++depth;
    else if (e < s.size() && s[e] == ')') --depth;
    if (e == s.size() || (depth == 0 && seps.find(s[e]) != std::string::npos)) {
      out.push_back({sep, trim(s.substr(start, e - start))});
      if (e < s.size()) sep = s[e];
      start = e + 1;
    }
  }
  return out;
}
}  // namespace

Formula parse_formula(const std::string& text, const std::string& what) {
  Formula f;
  f.text = trim(text);
  std::string s = f.text;
  if (!s.empty() && s[0] == '~') s = trim(s.substr(1));
  if (s.empty() || s == "1") return f;
  // Terms as R's model formulas read them: a*b = a + b + a:b (every sub-product), duplicates once; main
  // effects in order of appearance, then interactions by order (two-way, three-way, ...), each with its
  // columns in the order the variables first appear in the formula.
  std::vector<std::string> var_order;                  // columns by first appearance
  std::vector<std::vector<std::string>> inter_cols;  // interactions as column lists, in appearance order
  std::map<std::string, Term> seen;                    // column -> how it is written
  std::vector<std::string> explicit_main;
  auto note = [&](const Term& t, const std::string& tok) {
    auto it = seen.find(t.column);
    if (it == seen.end()) {
      seen[t.column] = t;
      var_order.push_back(t.column);
    } else if (it->second.factor_syntax != t.factor_syntax || it->second.ref != t.ref) {
      throw UsageError(what + ": column '" + t.column + "' is written two ways (in '" + tok + "')");
    }
  };
  std::vector<std::vector<std::string>> generated;  // every term in order of appearance, as column lists
  for (const auto& [plus, tok] : split_top(s, "+")) {
    if (tok.empty()) throw UsageError(what + ": empty term in formula '" + f.text + "'");
    if (tok == "1") continue;
    if (tok.rfind("strata(", 0) == 0) {  // strata(a[, b ...]): R's coxph strata
      if (tok.back() != ')') throw UsageError(what + ": unclosed strata( in '" + tok + "'");
      const std::string inner = tok.substr(7, tok.size() - 8);
      for (const auto& [comma, part] : split_top(inner, ",")) {
        const std::string col = trim(part);
        if (col.empty()) throw UsageError(what + ": empty column name in '" + tok + "'");
        for (char c : col)
          if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'))
            throw UsageError(what + ": strata() takes column names, got '" + col + "' in '" + tok + "'");
        if (std::find(f.strata.begin(), f.strata.end(), col) != f.strata.end())
          throw UsageError(what + ": column '" + col + "' appears twice in strata()");
        f.strata.push_back(col);
      }
      continue;
    }
    auto parts = split_top(tok, ":*");
    std::vector<std::string> cols;
    bool star = false;
    for (const auto& [sep, part] : parts) {
      if (part.empty()) throw UsageError(what + ": empty factor of the interaction '" + tok + "'");
      if (part.rfind("strata(", 0) == 0)
        throw UsageError(what + ": strata() cannot be part of an interaction ('" + tok + "'); write strata(...) as a term of its own");
      if (sep == '*') star = true;
      Term t = parse_term(part, what);
      note(t, tok);
      if (std::find(cols.begin(), cols.end(), t.column) != cols.end())
        throw UsageError(what + ": column '" + t.column + "' appears twice in '" + tok + "'");
      cols.push_back(t.column);
    }
    if (cols.size() == 1) {
      if (std::find(explicit_main.begin(), explicit_main.end(), cols[0]) != explicit_main.end())
        throw UsageError(what + ": column '" + cols[0] + "' appears twice");
      explicit_main.push_back(cols[0]);
      generated.push_back(cols);
      continue;
    }
    if (cols.size() > 3) throw UsageError(what + ": '" + tok + "': interactions of more than three columns are not supported");
    if (!star) {
      // a:b (a:b:c): the product term only; a mix like a*b:c is R's a + b:c + a:b:c, not supported.
      if (std::any_of(parts.begin(), parts.end(), [](const auto& p) { return p.first == '*'; }))
        throw UsageError(what + ": '" + tok + "' mixes * and :; write the terms out");
      generated.push_back(cols);
      continue;
    }
    if (std::any_of(parts.begin() + 1, parts.end(), [](const auto& p) { return p.first == ':'; }))
      throw UsageError(what + ": '" + tok + "' mixes * and :; write the terms out");
    // a*b*c: every non-empty subset, by size, each in the order written.
    const size_t k = cols.size();
    for (size_t size = 1; size <= k; ++size)
      for (unsigned mask = 1; mask < (1u << k); ++mask) {
        if (static_cast<size_t>(__builtin_popcount(mask)) != size) continue;
        std::vector<std::string> sub;
        for (size_t i = 0; i < k; ++i)
          if (mask & (1u << i)) sub.push_back(cols[i]);
        generated.push_back(sub);
      }
  }
  auto by_var_order = [&](std::vector<std::string> cols) {
    std::sort(cols.begin(), cols.end(), [&](const std::string& a, const std::string& b) {
      return std::find(var_order.begin(), var_order.end(), a) < std::find(var_order.begin(), var_order.end(), b);
    });
    return cols;
  };
  for (const auto& g : generated) {
    if (g.size() == 1) {
      if (std::none_of(f.terms.begin(), f.terms.end(), [&](const Term& t) { return t.column == g[0]; })) f.terms.push_back(seen[g[0]]);
      continue;
    }
    std::vector<std::string> cols = by_var_order(g);
    if (std::find(inter_cols.begin(), inter_cols.end(), cols) == inter_cols.end()) inter_cols.push_back(cols);
  }
  std::stable_sort(inter_cols.begin(), inter_cols.end(), [](const auto& a, const auto& b) { return a.size() < b.size(); });
  // Every interaction needs the terms below it (main effects, and the two-way terms of a three-way
  // one): then treatment coding of its factors is R's coding (R switches to other codings otherwise).
  for (const auto& cols : inter_cols) {
    std::string label;
    for (const auto& c : cols) label += (label.empty() ? "" : ":") + c;
    for (const auto& c : cols)
      if (std::none_of(f.terms.begin(), f.terms.end(), [&](const Term& t) { return t.column == c; }))
        throw UsageError(what + ": the interaction " + label + " needs the main effect of '" + c + "' in the formula too (write them with *)");
    if (cols.size() == 3)
      for (size_t drop = 0; drop < 3; ++drop) {
        std::vector<std::string> sub;
        for (size_t i = 0; i < 3; ++i)
          if (i != drop) sub.push_back(cols[i]);
        if (std::find(inter_cols.begin(), inter_cols.end(), sub) == inter_cols.end())
          throw UsageError(what + ": the interaction " + label + " needs " + sub[0] + ":" + sub[1] + " in the formula too (write them with *)");
      }
    std::vector<size_t> idx;
    for (const auto& c : cols)
      idx.push_back(static_cast<size_t>(
          std::find_if(f.terms.begin(), f.terms.end(), [&](const Term& t) { return t.column == c; }) - f.terms.begin()));
    f.interactions.push_back(idx);
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
  return {{"text", f.text}, {"terms", terms}, {"interactions", f.interactions}};
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
    if (j.contains("interactions")) {  // absent in reports written before interactions existed
      f.interactions = j.at("interactions").get<std::vector<std::vector<size_t>>>();
      for (const auto& in : f.interactions)
        for (size_t part : in)
          if (part >= f.terms.size()) throw InputError(source, "formula.interactions", "names a term that does not exist");
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
  for (const auto& n : f.names()) d.names.push_back(n);
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
        if ((r & 0xFFFF) == 0) check_stop();
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
      if ((r & 0xFFFF) == 0) check_stop();
      std::string v = c.numeric ? num_str(c.values[r]) : c.strings[r];
      if (std::find(t.levels.begin(), t.levels.end(), v) == t.levels.end())
        throw InputError(data.source, "column '" + t.column + "', " + data.where(static_cast<size_t>(r)),
                         "level '" + v + "' was not in the fitted data");
      for (size_t k = 0; k < keep.size(); ++k) d.x[r * d.cols + col + static_cast<int64_t>(k)] = v == keep[k] ? 1.0 : 0.0;
    }
    col += static_cast<int64_t>(keep.size());
  }
  // Interactions: products of the main effects' design columns (first component fastest, as names()).
  std::vector<int64_t> start;  // first design column of each main term
  {
    int64_t c = 1;
    for (const auto& t : f.terms) {
      start.push_back(c);
      c += static_cast<int64_t>(t.names().size());
    }
  }
  for (const auto& in : f.interactions) {
    std::vector<std::vector<int64_t>> combos = {{}};
    for (size_t part : in) {
      std::vector<std::vector<int64_t>> next;
      const int64_t width = static_cast<int64_t>(f.terms[part].names().size());
      for (int64_t k = 0; k < width; ++k)
        for (const auto& a : combos) {
          auto b = a;
          b.push_back(start[part] + k);
          next.push_back(b);
        }
      combos = next;
    }
    const bool numeric = std::any_of(in.begin(), in.end(), [&](size_t part) { return !f.terms[part].categorical; });
    for (const auto& cols : combos) {
      double sum = 0;
      for (int64_t r = 0; r < d.rows; ++r) {
        if ((r & 0xFFFF) == 0) check_stop();
        double v = 1;
        for (int64_t c : cols) v *= d.x[r * d.cols + c];
        d.x[r * d.cols + col] = v;
        sum += v;
      }
      if (numeric && standardize && d.rows > 1) {
        const double mean = sum / d.rows;
        double sq = 0;
        for (int64_t r = 0; r < d.rows; ++r) sq += (d.x[r * d.cols + col] - mean) * (d.x[r * d.cols + col] - mean);
        const double sd = std::sqrt(sq / (d.rows - 1));
        d.center[col] = mean;
        d.scale[col] = sd > 0 ? sd : 1.0;
      }
      ++col;
    }
  }
  return d;
}

void check_collinear(const Design& d, const std::string& source, const std::string& parameter) {
  // Gram-Schmidt on the standardised columns: a column whose residual on the earlier ones is ~0 is
  // (numerically) a linear combination of them; one whose residual on the intercept alone is ~0 is
  // constant (the message says so without naming the intercept, which a Cox model does not have).
  const int64_t n = d.rows, p = d.cols;
  std::vector<std::vector<double>> q;
  for (int64_t c = 0; c < p; ++c) {
    check_stop();
    std::vector<double> v(n);
    double norm0 = 0;
    for (int64_t r = 0; r < n; ++r) {
      v[r] = (d.at(r, c) - d.center[c]) / d.scale[c];
      if (c == 0) v[r] = 1.0;
      norm0 += v[r] * v[r];
    }
    bool constant = false;
    for (size_t k = 0; k < q.size(); ++k) {
      const auto& u = q[k];
      double dot = 0;
      for (int64_t r = 0; r < n; ++r) dot += u[r] * v[r];
      for (int64_t r = 0; r < n; ++r) v[r] -= dot * u[r];
      if (k == 0 && c > 0) {
        double after = 0;
        for (double x : v) after += x * x;
        constant = norm0 == 0 || after <= 1e-10 * norm0;
      }
    }
    double norm = 0;
    for (double x : v) norm += x * x;
    if (c == 0 && norm0 == 0) throw InputError(source, parameter, "no rows");
    if (constant || norm <= 1e-10 * norm0) {
      std::string earlier;
      for (int64_t k = 1; k < c; ++k) earlier += (k > 1 ? ", " : "") + d.names[k];
      throw InputError(source, "covariate '" + d.names[c] + "' of " + parameter,
                       constant ? "is constant over the rows used (it carries no information); drop it"
                                : "is a linear combination of " + earlier + " (collinear); drop it");
    }
    norm = std::sqrt(norm);
    for (double& x : v) x /= norm;
    q.push_back(std::move(v));
  }
}

}  // namespace paramkit::survival
