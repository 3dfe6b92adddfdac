#include "paramkit/survival/nonparam.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <cmath>
#include <numeric>

#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/signals.h"
#include "paramkit/numeric/newton.h"
#include "paramkit/survival/stats.h"

namespace paramkit::survival {

double KaplanMeier::at(double t) const { return summary_at(t).surv; }

KaplanMeier::AtTime KaplanMeier::summary_at(double t) const {
  AtTime a;
  a.time = t;
  // The last row at or before t (the curve is right-continuous); before the first: S = 1 exactly.
  const size_t k = static_cast<size_t>(std::upper_bound(time.begin(), time.end(), t) - time.begin());
  // At risk at t: the subjects whose time is >= t (the first row at or after t), 0 beyond the last.
  const size_t j = static_cast<size_t>(std::lower_bound(time.begin(), time.end(), t) - time.begin());
  a.n_risk = j < time.size() ? n_risk[j] : 0;
  if (k == 0) {
    a.surv = 1;
    a.std_err = 0;
    a.lower = a.upper = 1;
    return a;
  }
  a.surv = surv[k - 1];
  a.std_err = std_err[k - 1];
  a.lower = lower[k - 1];
  a.upper = upper[k - 1];
  return a;
}

namespace {
// R's quantile rule on a step curve: the first event time where y <= p; when y equals p there (within
// sqrt(eps)), the midpoint with the next event time.
double curve_quantile(const std::vector<double>& t, const std::vector<double>& y, const std::vector<double>& events, double p) {
  const double tol = std::sqrt(2.220446e-16);
  std::vector<size_t> idx;
  for (size_t i = 0; i < t.size(); ++i)
    if (events[i] > 0) idx.push_back(i);
  for (size_t k = 0; k < idx.size(); ++k) {
    const size_t i = idx[k];
    if (std::isnan(y[i])) continue;
    if (y[i] <= p + tol) {
      if (std::fabs(y[i] - p) < tol && k + 1 < idx.size()) return (t[i] + t[idx[k + 1]]) / 2;
      return t[i];
    }
  }
  return NAN;
}
}  // namespace

KaplanMeier kaplan_meier(const std::vector<double>& time, const std::vector<uint8_t>& event, double conf) {
  KaplanMeier km;
  std::vector<size_t> order(time.size());
  std::iota(order.begin(), order.end(), 0);
  check_stop();
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return time[a] < time[b]; });
  check_stop();
  const double z = normal_quantile(0.5 + conf / 2);
  double at_risk = static_cast<double>(time.size()), s = 1, varlog = 0;
  size_t next_check = 0;
  for (size_t i = 0; i < order.size();) {
    if (i >= next_check) {
      check_stop();
      next_check = i + 65536;
    }
    const double t = time[order[i]];
    double d = 0, c = 0;
    size_t j = i;
    for (; j < order.size() && time[order[j]] == t; ++j) (event[order[j]] ? d : c) += 1;
    if (d > 0) {
      s *= 1 - d / at_risk;
      varlog += at_risk > d ? d / (at_risk * (at_risk - d)) : INFINITY;
    }
    km.time.push_back(t);
    km.n_risk.push_back(at_risk);
    km.n_event.push_back(d);
    km.n_censor.push_back(c);
    km.surv.push_back(s);
    const double se = std::sqrt(varlog);
    km.std_err.push_back(s > 0 ? s * se : NAN);
    if (s > 0 && std::isfinite(se)) {
      km.lower.push_back(s * std::exp(-z * se));
      km.upper.push_back(std::min(1.0, s * std::exp(z * se)));
    } else {
      km.lower.push_back(NAN);
      km.upper.push_back(NAN);
    }
    at_risk -= d + c;
    i = j;
  }
  km.median = curve_quantile(km.time, km.surv, km.n_event, 0.5);
  km.median_lower = curve_quantile(km.time, km.lower, km.n_event, 0.5);
  km.median_upper = curve_quantile(km.time, km.upper, km.n_event, 0.5);
  return km;
}

namespace {
nlohmann::json num_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }
}  // namespace

nlohmann::json KaplanMeier::row(size_t i) const {
  return {{"time", time[i]}, {"n_risk", n_risk[i]}, {"n_event", n_event[i]}, {"n_censor", n_censor[i]}, {"surv", surv[i]},
          {"std_err", num_or_null(std_err[i])}, {"lower", num_or_null(lower[i])}, {"upper", num_or_null(upper[i])}};
}

nlohmann::json KaplanMeier::to_json(bool with_table) const {
  double events = 0;
  for (double d : n_event) events += d;
  nlohmann::json j = {{"n", n_risk.empty() ? 0 : n_risk[0]}, {"events", events}, {"median", num_or_null(median)},
                      {"median_lower", num_or_null(median_lower)}, {"median_upper", num_or_null(median_upper)}};
  if (!with_table) return j;
  nlohmann::json rows = nlohmann::json::array();
  for (size_t i = 0; i < time.size(); ++i) {
    if ((i & 0xFFFF) == 0) check_stop();  // millions of rows: one signal ends the run
    rows.push_back(row(i));
  }
  j["table"] = std::move(rows);
  return j;
}

namespace {
// Rows grouped by stratum (ids 0..k-1; none: one group), each group's rows by descending time and, for
// (start, stop] data, by descending start. Stable, so equal times keep the data's order.
struct Blocks {
  std::vector<size_t> by_time, by_start, bounds;  // bounds: block b is [bounds[b], bounds[b+1])
};
Blocks make_blocks(const std::vector<double>& time, const std::vector<double>& entry, const std::vector<size_t>& stratum) {
  const size_t n = time.size();
  Blocks b;
  b.by_time.resize(n);
  std::iota(b.by_time.begin(), b.by_time.end(), 0);
  auto sid = [&](size_t i) { return stratum.empty() ? size_t{0} : stratum[i]; };
  check_stop();
  std::stable_sort(b.by_time.begin(), b.by_time.end(), [&](size_t x, size_t y) {
    return sid(x) != sid(y) ? sid(x) < sid(y) : time[x] > time[y];
  });
  if (!entry.empty()) {
    b.by_start = b.by_time;
    std::stable_sort(b.by_start.begin(), b.by_start.end(), [&](size_t x, size_t y) {
      return sid(x) != sid(y) ? sid(x) < sid(y) : entry[x] > entry[y];
    });
  }
  check_stop();
  b.bounds.push_back(0);
  for (size_t i = 1; i < n; ++i)
    if (sid(b.by_time[i]) != sid(b.by_time[i - 1])) b.bounds.push_back(i);
  b.bounds.push_back(n);
  return b;
}
}  // namespace

Concordance concordance(const std::vector<double>& time, const std::vector<uint8_t>& event, const std::vector<double>& risk,
                        const std::vector<double>& entry, const std::vector<size_t>& stratum) {
  const size_t n = time.size();
  std::vector<double> levels(risk);
  std::sort(levels.begin(), levels.end());
  levels.erase(std::unique(levels.begin(), levels.end()), levels.end());
  std::vector<size_t> rank(n);
  for (size_t i = 0; i < n; ++i) rank[i] = std::lower_bound(levels.begin(), levels.end(), risk[i]) - levels.begin();
  std::vector<double> tree(levels.size() + 1, 0.0);  // Fenwick tree of counts by risk rank (the rows at risk)
  auto add = [&](size_t r, double v) {
    for (size_t i = r + 1; i < tree.size(); i += i & (~i + 1)) tree[i] += v;
  };
  auto below = [&](size_t r) {  // count with rank < r
    double s = 0;
    for (size_t i = r; i > 0; i -= i & (~i + 1)) s += tree[i];
    return s;
  };
  const Blocks blocks = make_blocks(time, entry, stratum);
  const std::vector<size_t>& order = blocks.by_time;
  Concordance c;
  size_t next_check = 0;
  for (size_t blk = 0; blk + 1 < blocks.bounds.size(); ++blk) {
    const size_t lo = blocks.bounds[blk], hi = blocks.bounds[blk + 1];
    double inserted = 0;
    size_t gone = lo;  // next row (by descending start) to leave the risk set
    for (size_t i = lo; i < hi;) {
      if (i >= next_check) {
        check_stop();
        next_check = i + 65536;
      }
      const double t = time[order[i]];
      size_t j = i;
      while (j < hi && time[order[j]] == t) ++j;
      for (size_t k = i; k < j; ++k)
        if (!event[order[k]]) {
          add(rank[order[k]], 1);
          ++inserted;
        }
      // (start, stop] rows that start at or after t are not at risk at t; they were inserted earlier
      // (their stop exceeds their start, so exceeds t).
      if (!entry.empty())
        for (; gone < hi && entry[blocks.by_start[gone]] >= t; ++gone) {
          add(rank[blocks.by_start[gone]], -1);
          --inserted;
        }
      for (size_t k = i; k < j; ++k) {
        if (!event[order[k]]) continue;
        const size_t r = rank[order[k]];
        const double less = below(r), leq = below(r + 1);
        c.concordant += less;
        c.tied_risk += leq - less;
        c.discordant += inserted - leq;
      }
      for (size_t k = i; k < j; ++k)
        if (event[order[k]]) {
          add(rank[order[k]], 1);
          ++inserted;
        }
      i = j;
    }
    // empty the tree for the next stratum: remove the rows still at risk before the first time
    for (size_t k = (entry.empty() ? lo : gone); k < hi; ++k) add(rank[(entry.empty() ? order : blocks.by_start)[k]], -1);
  }
  return c;
}

namespace {
struct CoxEval {
  double loglik = 0;
  std::vector<double> grad, info;  // info: minus the Hessian
};

// Partial log-likelihood of beta, stratum by stratum, over each stratum's rows by descending time
// (groups of equal times). With entry times the risk set at t is the rows with start < t <= stop: rows
// join at their stop and leave once t reaches their start.
CoxEval cox_eval(const std::vector<double>& x, int64_t p, const std::vector<double>& time, const std::vector<uint8_t>& event,
                 const std::vector<double>& entry, const Blocks& blocks, const std::vector<double>& beta, bool efron, bool derivs) {
  const size_t n = time.size();
  const std::vector<size_t>& order = blocks.by_time;
  CoxEval r;
  r.grad.assign(p, 0.0);
  r.info.assign(p * p, 0.0);
  std::vector<double> s1(p), s2(p * p), d1(p), d2(p * p), a1(p);
  std::vector<double> eta(n), w(n);
  for (size_t i = 0; i < n; ++i) {
    double e = 0;
    for (int64_t k = 0; k < p; ++k) e += x[i * p + k] * beta[k];
    eta[i] = e;
    w[i] = std::exp(e);
  }
  // adds (sign 1) or removes (sign -1) row s from the risk-set sums
  double s0 = 0;
  auto accumulate = [&](size_t s, double sign) {
    const double ws = sign * w[s];
    const double* xs = &x[s * p];
    s0 += ws;
    for (int64_t a = 0; a < p; ++a) {
      s1[a] += ws * xs[a];
      if (derivs)
        for (int64_t b = 0; b <= a; ++b) s2[a * p + b] += ws * xs[a] * xs[b];
    }
  };
  size_t next_check = 0;
  for (size_t blk = 0; blk + 1 < blocks.bounds.size(); ++blk) {
    const size_t lo = blocks.bounds[blk], hi = blocks.bounds[blk + 1];
    s0 = 0;
    std::fill(s1.begin(), s1.end(), 0.0);
    std::fill(s2.begin(), s2.end(), 0.0);
    size_t gone = lo;
    for (size_t i = lo; i < hi;) {
      if (i >= next_check) {
        check_stop();  // one evaluation is a pass over the data
        next_check = i + 65536;
      }
      const double t = time[order[i]];
      size_t j = i;
      while (j < hi && time[order[j]] == t) ++j;
      double dcount = 0, dsum0 = 0;
      std::fill(d1.begin(), d1.end(), 0.0);
      if (derivs) std::fill(d2.begin(), d2.end(), 0.0);
      for (size_t k = i; k < j; ++k) {
        const size_t s = order[k];
        accumulate(s, 1);
        if (event[s]) {
          const double* xs = &x[s * p];
          dcount += 1;
          dsum0 += w[s];
          r.loglik += eta[s];
          for (int64_t a = 0; a < p; ++a) {
            r.grad[a] += xs[a];
            d1[a] += w[s] * xs[a];
            if (derivs)
              for (int64_t b = 0; b <= a; ++b) d2[a * p + b] += w[s] * xs[a] * xs[b];
          }
        }
      }
      if (!entry.empty())
        for (; gone < hi && entry[blocks.by_start[gone]] >= t; ++gone) accumulate(blocks.by_start[gone], -1);
      if (dcount > 0) {
        const int reps = efron ? static_cast<int>(dcount) : 1;
        const double mult = efron ? 1.0 : dcount;
        for (int rr = 0; rr < reps; ++rr) {
          const double f = efron ? rr / dcount : 0.0;
          const double a0 = s0 - f * dsum0;
          r.loglik -= mult * std::log(a0);
          for (int64_t a = 0; a < p; ++a) {
            a1[a] = s1[a] - f * d1[a];
            r.grad[a] -= mult * a1[a] / a0;
          }
          if (derivs)
            for (int64_t a = 0; a < p; ++a)
              for (int64_t b = 0; b <= a; ++b)
                r.info[a * p + b] += mult * ((s2[a * p + b] - f * d2[a * p + b]) / a0 - a1[a] * a1[b] / (a0 * a0));
        }
      }
      i = j;
    }
  }
  for (int64_t a = 0; a < p; ++a)
    for (int64_t b = 0; b < a; ++b) r.info[b * p + a] = r.info[a * p + b];
  return r;
}

// Stratum ids of the data rows for formula.strata (levels ordered as R orders factor levels: numbers
// numerically, strings alphabetically, the first column varying slowest), with R's labels.
std::vector<size_t> stratum_ids(const SurvData& data, const std::vector<std::string>& columns, std::vector<CoxStratum>& strata) {
  const size_t n = data.n();
  std::vector<size_t> ids(n, 0);
  if (columns.empty()) return ids;
  std::vector<const Column*> cols;
  for (const auto& c : columns) cols.push_back(&data.rows.col(c));
  auto value = [&](size_t col, size_t row) {
    const Column& c = *cols[col];
    if (!c.numeric) return c.strings[row];
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.15g", c.values[row]);
    return std::string(buf);
  };
  auto less = [&](size_t a, size_t b) {
    for (size_t k = 0; k < cols.size(); ++k) {
      const Column& c = *cols[k];
      if (c.numeric ? c.values[a] != c.values[b] : c.strings[a] != c.strings[b])
        return c.numeric ? c.values[a] < c.values[b] : c.strings[a] < c.strings[b];
    }
    return false;
  };
  std::vector<size_t> rows(n);
  std::iota(rows.begin(), rows.end(), 0);
  std::stable_sort(rows.begin(), rows.end(), less);
  for (size_t i = 0; i < n; ++i) {
    if (i == 0 || less(rows[i - 1], rows[i])) {
      std::string name;
      for (size_t k = 0; k < cols.size(); ++k) name += (k ? ", " : "") + columns[k] + "=" + value(k, rows[i]);
      strata.push_back({name, 0, 0});
    }
    ids[rows[i]] = strata.size() - 1;
    strata.back().n += 1;
    strata.back().events += data.event[rows[i]];
  }
  return ids;
}

}  // namespace

CoxResult fit_cox(const SurvData& data, const Formula& formula, const CoxOptions& o) {
  if (o.ties != "efron" && o.ties != "breslow") throw UsageError("--ties must be efron or breslow, got '" + o.ties + "'");
  if (formula.terms.empty()) throw UsageError("a Cox model needs at least one covariate (--formula)");
  Design d = build_design(formula, data.rows, true);
  check_collinear(d, data.source, "the Cox model");
  const int64_t n = d.rows, p = d.cols - 1;
  std::vector<double> x(n * p);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < p; ++c) x[r * p + c] = (d.at(r, c + 1) - d.center[c + 1]) / d.scale[c + 1];
  std::vector<CoxStratum> strata;
  const std::vector<size_t> stratum = stratum_ids(data, formula.strata, strata);
  const Blocks blocks = make_blocks(data.time, data.entry, formula.strata.empty() ? std::vector<size_t>{} : stratum);
  const bool efron = o.ties == "efron";
  auto eval = [&](const std::vector<double>& b, bool with_derivs) {
    return cox_eval(x, p, data.time, data.event, data.entry, blocks, b, efron, with_derivs);
  };
  // Newton on the partial likelihood (concave: the information is positive semi-definite).
  auto value = [&](const std::vector<double>& b) { return eval(b, false).loglik; };
  auto derivs = [&](const std::vector<double>& b, std::vector<double>& g, std::vector<double>& h) {
    CoxEval e = eval(b, true);
    g = e.grad;
    h.resize(e.info.size());
    for (size_t i = 0; i < h.size(); ++i) h[i] = -e.info[i];
    return e.loglik;
  };
  const double loglik0 = value(std::vector<double>(p, 0.0));
  numeric::NewtonOptions no;
  no.max_iter = o.max_iter;
  no.tol = o.tol;
  no.move_tol = INFINITY;
  no.max_halvings = 40;
  numeric::NewtonResult nr = numeric::maximize(value, derivs, std::vector<double>(p, 0.0), no);
  const std::vector<double>& beta = nr.theta;
  const int iter = nr.iterations;
  const bool converged = nr.converged;
  CoxEval cur = eval(beta, true);
  std::vector<double> cov = numeric::spd_inverse(cur.info, p);
  // R's test for infinite coefficients on the converged fit (standardised scale, where the remaining
  // step and the coefficient compare as on R's); a separating covariate or a level without events.
  const std::vector<bool> infinite = converged ? numeric::may_be_infinite(beta, cur.grad, cur.info, 1e-6) : std::vector<bool>(p, false);
  std::map<std::string, std::string> hints;  // dummy name -> "level 'z' of 'grp' has only censored rows"
  for (const auto& t : formula.terms) {
    if (!t.categorical) continue;
    const Column& c = data.rows.col(t.column);
    std::map<std::string, size_t> events;
    for (size_t i = 0; i < data.n(); ++i) {
      char buf[32];
      std::string v = c.numeric ? (std::snprintf(buf, sizeof buf, "%.15g", c.values[i]), std::string(buf)) : c.strings[i];
      events[v] += data.event[i];
    }
    const std::string prefix = t.factor_syntax ? "factor(" + t.column + ")" : t.column;
    for (const auto& [l, e] : events)
      if (e == 0) hints[l == t.ref ? "" : prefix + l] = "level '" + l + "' of '" + t.column + "' has only censored rows";
  }
  const double z = normal_quantile(0.5 + o.conf / 2);
  CoxResult res;
  std::vector<double> lp(n, 0.0);
  for (int64_t a = 0; a < p; ++a) {
    const double s = d.scale[a + 1];
    const double est = beta[a] / s;
    const double se = cov.empty() ? NAN : std::sqrt(cov[a * p + a]) / s;
    res.coefficients.push_back({d.names[a + 1], est, std::exp(est), se, est / se, two_sided_p(est / se), std::exp(est - z * se),
                                std::exp(est + z * se), static_cast<bool>(infinite[a])});
    if (infinite[a]) {
      auto h = hints.find(d.names[a + 1]);
      res.degenerate = true;
      res.warnings.push_back("coefficient of " + d.names[a + 1] + " may be infinite (the partial likelihood converged while it kept growing" +
                             (h == hints.end() ? "" : "; " + h->second) + "): its estimate and standard error are not meaningful");
      log::warn("{}", res.warnings.back());
    }
    for (int64_t r = 0; r < n; ++r) lp[r] += beta[a] * x[r * p + a];
  }
  res.ties = o.ties;
  res.n = data.n();
  res.events = data.events();
  res.dropped_na = data.dropped;
  res.formula = d.names.size() > 1 ? formula.text : "";
  res.loglik_null = loglik0;
  res.loglik = cur.loglik;
  res.lr_statistic = 2 * (cur.loglik - loglik0);
  res.lr_df = p;
  res.lr_p = chi2_sf(res.lr_statistic, static_cast<double>(p));
  res.counting = !data.entry.empty();
  res.strata_columns = formula.strata;
  res.strata = std::move(strata);
  res.concordance = concordance(data.time, data.event, lp, data.entry, formula.strata.empty() ? std::vector<size_t>{} : stratum);
  res.iterations = iter;
  res.converged = converged;
  res.conf_level = o.conf;
  return res;
}

void to_json(nlohmann::json& j, const Concordance& c) {
  j = {{"c", c.c()}, {"concordant", c.concordant}, {"discordant", c.discordant}, {"tied_risk", c.tied_risk}};
}

void to_json(nlohmann::json& j, const CoxResult& r) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& c : r.coefficients)
    rows.push_back({{"term", c.term}, {"coef", c.coef}, {"exp_coef", c.exp_coef}, {"se", c.se}, {"z", c.z},
                    {"p", c.p}, {"exp_lower", c.exp_lower}, {"exp_upper", c.exp_upper}, {"infinite", c.infinite}});
  j = {{"model", "cox"},
       {"ties", r.ties},
       {"n", r.n},
       {"events", r.events},
       {"dropped_na", r.dropped_na},
       {"formula", r.formula},
       {"counting", r.counting},
       {"strata", nullptr},
       {"coefficients", rows},
       {"loglik_null", r.loglik_null},
       {"loglik", r.loglik},
       {"lr_test", {{"statistic", r.lr_statistic}, {"df", r.lr_df}, {"p", r.lr_p}}},
       {"concordance", r.concordance},
       {"iterations", r.iterations},
       {"converged", r.converged},
       {"degenerate", r.degenerate},
       {"warnings", r.warnings},
       {"conf_level", r.conf_level}};
  if (!r.strata.empty()) {
    nlohmann::json levels = nlohmann::json::array();
    for (const auto& s : r.strata) levels.push_back({{"name", s.name}, {"n", s.n}, {"events", s.events}});
    j["strata"] = {{"columns", r.strata_columns}, {"levels", levels}};
  }
}

}  // namespace paramkit::survival
