#include "paramkit/survival/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "paramkit/core/error.h"
#include "paramkit/core/provenance.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/survival/plot.h"

namespace paramkit::survival {
namespace {
std::string fmt_num(double v, int prec = 6) {
  if (!std::isfinite(v)) return "NA";
  return fmt::format("{:.{}g}", v, prec);
}
std::string pad(const std::string& s, size_t w, bool right = true) {
  if (s.size() >= w) return s;
  return right ? std::string(w - s.size(), ' ') + s : s + std::string(w - s.size(), ' ');
}
std::string group_name(const Column& c, size_t r) {
  if (c.numeric) return fmt_num(c.values[r], 15);
  return c.strings[r];
}

// The rows of each level of column `by` (levels in sorted order), or one group "all".
std::vector<std::pair<std::string, std::vector<size_t>>> groups_of(const SurvData& d, const std::string& by) {
  std::map<std::string, std::vector<size_t>> g;
  const Column* c = by.empty() ? nullptr : &d.rows.col(by);
  for (size_t i = 0; i < d.n(); ++i) {
    if ((i & 0xFFFF) == 0) check_stop();
    g[c ? group_name(*c, i) : "all"].push_back(i);
  }
  return {g.begin(), g.end()};
}
}  // namespace

void DataOptions::validate() const {
  if (!(conf >= 0.5 && conf <= 0.9999)) throw UsageError("--conf: the confidence level must lie in [0.5, 0.9999], got " + fmt_num(conf));
}

SurvSpec DataOptions::spec(bool positive_times) const {
  SurvSpec s;
  s.time = time;
  s.status = status;
  s.entry = entry;
  s.event_value = event_value;
  s.na_fail = na_fail;
  s.positive_times = positive_times;
  return s;
}

SurvData load_data(const std::string& path, const DataOptions& o, const std::vector<std::string>& columns, bool positive_times) {
  Table t = read_csv(path);
  return load_surv(t, o.spec(positive_times), columns);
}

SurvData load_for_fit(const std::string& path, const DataOptions& d, FitOptions& o) {
  std::vector<std::string> cols;
  for (const auto& [p, f] : o.formulas)
    for (const auto& c : parse_formula(f, o.formula_flag(p)).columns()) cols.push_back(c);
  o.refs = d.refs;
  o.conf = d.conf;
  return load_data(path, d, cols, true);
}

Model given_model(const std::string& family, const std::map<std::string, double>& values) {
  const Family& f = find_family(family);
  std::map<std::string, double> v = values;
  Model m;
  m.family = &f;
  for (const auto& p : f.params) {
    auto it = v.find(p.name);
    if (it == v.end()) throw UsageError("--set: give a value for " + p.name + " (" + p.meaning + ")");
    if (!std::isfinite(link(p.link, it->second))) throw UsageError("--set " + p.name + ": value outside its range");
    m.formulas.push_back(Formula{});
    m.fixed.push_back(it->second);
    v.erase(it);
  }
  if (!v.empty()) throw UsageError("--set: family " + f.name + " has no parameter '" + v.begin()->first + "'");
  return m;
}

KmReport run_km(const std::string& path, const DataOptions& o, const std::string& by, const std::vector<double>& times) {
  if (!o.entry.empty())
    throw UsageError("--entry: the Kaplan-Meier estimate here does not take entry times (left truncation); a KM curve without them would be "
                     "biased. Fit the entry times with survfit fit or cox");
  std::vector<std::string> cols;
  if (!by.empty()) cols.push_back(by);
  SurvData d = load_data(path, o, cols, false);
  KmReport rep;
  rep.data = path;
  rep.by = by;
  rep.dropped_na = d.dropped;
  rep.conf_level = o.conf;
  for (const auto& [name, rows] : groups_of(d, by)) {
    std::vector<double> t;
    std::vector<uint8_t> e;
    for (size_t i : rows) {
      t.push_back(d.time[i]);
      e.push_back(d.event[i]);
    }
    KmCurve c;
    c.group = name;
    c.km = kaplan_meier(t, e, o.conf);
    for (double x : times) c.at.push_back(c.km.summary_at(x));
    rep.curves.push_back(std::move(c));
  }
  return rep;
}

namespace {
nlohmann::json km_report_json(const KmReport& r, bool with_tables) {
  nlohmann::json j;
  nlohmann::json curves = nlohmann::json::array();
  for (const auto& c : r.curves) {
    nlohmann::json cj = c.km.to_json(with_tables);
    cj["group"] = c.group;
    auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
    nlohmann::json at = nlohmann::json::array();
    for (const auto& a : c.at)
      at.push_back({{"time", a.time}, {"n_risk", a.n_risk}, {"surv", a.surv}, {"std_err", num(a.std_err)}, {"lower", num(a.lower)},
                    {"upper", num(a.upper)}});
    cj["at"] = at;
    curves.push_back(std::move(cj));
  }
  j = {{"data", r.data}, {"by", r.by}, {"dropped_na", r.dropped_na}, {"conf_level", r.conf_level}, {"curves", std::move(curves)}};
  return j;
}
}  // namespace

void to_json(nlohmann::json& j, const KmReport& r) { j = km_report_json(r, true); }

void write_km_report(const std::string& path, const KmReport& r) {
  // The report without its tables, each replaced by a placeholder; dumped as write_report would, then
  // the placeholders replaced by the tables, each row dumped on its own and indented as nlohmann's
  // serializer indents a nested value (its lines after the first shifted by the current indent).
  nlohmann::json head = km_report_json(r, false);  // small: the tables are streamed below
  const std::string tag = "@@paramkit-km-table-";
  for (size_t i = 0; i < r.curves.size(); ++i) head["curves"][i]["table"] = tag + std::to_string(i) + "@@";
  head["provenance"] = current_provenance().to_json();
  const std::string text = head.dump(2) + "\n";
  AtomicFile out(path);
  std::string buf;
  auto flush = [&](bool force) {
    if (force || buf.size() > (1u << 20)) {
      out.write(buf);
      buf.clear();
    }
  };
  size_t pos = 0;
  for (size_t i = 0; i < r.curves.size(); ++i) {
    const std::string mark = "\"" + tag + std::to_string(i) + "@@\"";
    const size_t at = text.find(mark, pos);
    if (at == std::string::npos) throw Error(path + ": internal error: the report lost table " + std::to_string(i));
    buf += text.substr(pos, at - pos);
    const size_t line = text.rfind('\n', at) + 1;
    const size_t indent = text.find_first_not_of(' ', line) - line;
    const KaplanMeier& km = r.curves[i].km;
    if (km.time.empty()) {
      buf += "[]";
    } else {
      const std::string in(indent + 2, ' ');
      buf += "[\n";
      for (size_t k = 0; k < km.time.size(); ++k) {
        if ((k & 0xFFF) == 0) check_stop();
        std::string row = km.row(k).dump(2);
        buf += in;
        for (char c : row) {
          buf += c;
          if (c == '\n') buf += in;
        }
        buf += k + 1 < km.time.size() ? ",\n" : "\n";
        flush(false);
      }
      buf += std::string(indent, ' ') + "]";
    }
    pos = at + mark.size();
  }
  buf += text.substr(pos);
  flush(true);
  check_stop();
  out.commit();
}

namespace {
// Undefined standard errors and confidence limits (null in the JSON report) as NaN.
double finite_or_nan(double v) { return std::isfinite(v) ? v : NAN; }
}  // namespace

Table km_table(const KmReport& rep) {
  std::vector<std::string> group;
  std::vector<double> cols[8];
  static const char* names[] = {"time", "n_risk", "n_event", "n_censor", "surv", "std_err", "lower", "upper"};
  for (const auto& c : rep.curves) {
    const KaplanMeier& km = c.km;
    const std::vector<double>* src[] = {&km.time, &km.n_risk, &km.n_event, &km.n_censor, &km.surv, &km.std_err, &km.lower, &km.upper};
    for (size_t i = 0; i < km.time.size(); ++i) {
      if ((i & 0xFFFF) == 0) check_stop();
      group.push_back(c.group);
      for (int k = 0; k < 8; ++k) cols[k].push_back(k >= 5 ? finite_or_nan((*src[k])[i]) : (*src[k])[i]);
    }
  }
  Table t;
  t.source = "km";
  t.rows = group.size();
  t.columns.push_back(categorical_column("group", group));
  for (int k = 0; k < 8; ++k) t.columns.push_back(numeric_column(names[k], cols[k]));
  return t;
}

namespace {
std::vector<Curve> km_curves(const KmReport& rep, bool with_ci) {
  std::vector<Curve> out;
  int color = 0;
  for (const auto& c : rep.curves) {
    Curve k, lo, hi;
    k.label = "KM " + c.group;
    k.step = lo.step = hi.step = true;
    lo.dashed = hi.dashed = true;
    lo.legend = hi.legend = false;
    k.color = lo.color = hi.color = color++;
    k.t = lo.t = hi.t = {0.0};
    k.s = lo.s = hi.s = {1.0};
    for (size_t i = 0; i < c.km.time.size(); ++i) {
      const double t = c.km.time[i];
      k.t.push_back(t);
      k.s.push_back(c.km.surv[i]);
      lo.t.push_back(t);
      lo.s.push_back(finite_or_nan(c.km.lower[i]));
      hi.t.push_back(t);
      hi.s.push_back(finite_or_nan(c.km.upper[i]));
    }
    out.push_back(k);
    if (with_ci) {
      out.push_back(lo);
      out.push_back(hi);
    }
  }
  return out;
}
}  // namespace

std::string km_plot_svg(const KmReport& rep, const std::string& title) {
  return survival_svg(km_curves(rep, true), "Kaplan-Meier: " + title, "time");
}

std::string fit_plot_svg(const SurvData& d, const FitResult& fit, const std::string& by) {
  // Groups: every row, or the rows of each level of `by`. Fitted curve: the average of the rows'
  // predicted S(t) (a directly adjusted curve, comparable to the group's Kaplan-Meier).
  const auto groups = groups_of(d, by);
  const double tmax = *std::max_element(d.time.begin(), d.time.end());
  auto params = fit.model.params(d.rows);
  std::vector<Curve> curves;
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    const auto& [name, members] = groups[gi];
    std::vector<double> t;
    std::vector<uint8_t> e;
    for (size_t i : members) {
      t.push_back(d.time[i]);
      e.push_back(d.event[i]);
    }
    KaplanMeier km = kaplan_meier(t, e);
    Curve k, f;
    k.label = "KM " + name;
    k.step = true;
    k.color = f.color = static_cast<int>(gi);
    k.t = {0.0};
    k.s = {1.0};
    for (size_t i = 0; i < km.time.size(); ++i) {
      k.t.push_back(km.time[i]);
      k.s.push_back(km.surv[i]);
    }
    f.label = fit.model.family->name + " " + name;
    std::vector<std::vector<double>> mp;
    for (size_t i : members) mp.push_back(params[i]);
    std::vector<double> H;
    for (int s = 0; s <= 100; ++s) {
      const double x = tmax * s / 100.0;
      double acc = 0;
      if (x == 0) {
        acc = static_cast<double>(members.size());
      } else {
        cumhaz_rows(*fit.model.family, x, mp, &H, nullptr);
        for (double v : H) acc += std::exp(-v);
      }
      f.t.push_back(x);
      f.s.push_back(acc / static_cast<double>(members.size()));
    }
    curves.push_back(k);
    curves.push_back(f);
  }
  return survival_svg(curves, fit.model.family->name + " fit over Kaplan-Meier (" + d.source + ")", "time");
}

std::string format_fit(const nlohmann::json& r) {
  std::string o = fmt::format("{} ({}): n = {}, events = {}{}\n", r["family"].get<std::string>(), r["description"].get<std::string>(),
                              r["n"].get<size_t>(), r["events"].get<size_t>(),
                              r["dropped_na"].get<size_t>() ? fmt::format(", {} rows with NA dropped", r["dropped_na"].get<size_t>()) : "");
  const int pct = static_cast<int>(std::lround(r["conf_level"].get<double>() * 100));
  for (const auto& p : r["parameters"]) {
    const std::string name = p["name"].get<std::string>();
    if (p.contains("fixed")) {
      o += fmt::format("\n{} fixed at {}\n", name, fmt_num(p["fixed"].get<double>()));
      continue;
    }
    o += fmt::format("\n{} ({} link){}\n", name, p["link"].get<std::string>(),
                     p["formula"].get<std::string>().empty() ? "" : ": ~ " + p["formula"].get<std::string>());
    o += pad("", 24, false) + pad("estimate", 12) + pad("se", 12) + pad("z", 9) + pad("p", 11) + pad(fmt::format("{}% CI", pct), 26) + "\n";
    for (const auto& c : p["coefficients"]) {
      o += pad(c["term"].get<std::string>(), 24, false) + pad(fmt_num(c["estimate"].get<double>()), 12) + pad(fmt_num(c["se"].get<double>(), 4), 12) +
           pad(fmt_num(c["z"].get<double>(), 3), 9) + pad(fmt_num(c["p"].get<double>(), 3), 11) +
           pad(fmt::format("[{}, {}]", fmt_num(c["lower"].get<double>(), 5), fmt_num(c["upper"].get<double>(), 5)), 26) +
           (c.value("infinite", false) ? "  *" : "") + "\n";
    }
  }
  if (r.value("degenerate", false)) o += "\n* may be infinite: see the warnings\n";
  if (r.contains("survreg") && r["survreg"].contains("scale")) o += fmt::format("\nscale = {} (survreg's)\n", fmt_num(r["survreg"]["scale"].get<double>()));
  if (r.contains("cure_fraction"))
    o += fmt::format("\ncure fraction {} [{}, {}] at the covariate means\n", fmt_num(r["cure_fraction"]["estimate"].get<double>(), 4),
                     fmt_num(r["cure_fraction"]["lower"].get<double>(), 4), fmt_num(r["cure_fraction"]["upper"].get<double>(), 4));
  o += fmt::format("\nlogLik = {} (df = {}), AIC = {}, BIC = {}; {} after {} iterations (start: {})\n", fmt_num(r["loglik"].get<double>(), 10),
                   r["df"].get<int>(), fmt_num(r["aic"].get<double>(), 8), fmt_num(r["bic"].get<double>(), 8), r["message"].get<std::string>(),
                   r["iterations"].get<int>(), r["start"].get<std::string>());
  return o;
}

std::string format_km(const KmReport& r) {
  std::string o;
  const int pct = static_cast<int>(std::lround(r.conf_level * 100));
  for (const auto& c : r.curves) {
    const double n = c.km.n_risk.empty() ? 0 : c.km.n_risk[0];
    double events = 0;
    for (double d : c.km.n_event) events += d;
    o += fmt::format("{}: n = {}, events = {}, median = {} ({}% CI {} - {})\n", c.group, n, events, fmt_num(c.km.median), pct,
                     fmt_num(c.km.median_lower), fmt_num(c.km.median_upper));
    for (const auto& a : c.at)
      o += fmt::format("  S({}) = {} (se {}, {}% CI {} - {}; {} at risk)\n", fmt_num(a.time), fmt_num(a.surv), fmt_num(a.std_err, 4), pct,
                       fmt_num(a.lower, 5), fmt_num(a.upper, 5), a.n_risk);
  }
  return o;
}

std::string format_cox(const CoxResult& r) {
  std::string o = fmt::format("Cox PH ({} ties{}): n = {}, events = {}\n", r.ties, r.counting ? ", (start, stop] rows" : "", r.n, r.events);
  if (!r.strata.empty()) {
    o += fmt::format("{} strata:", r.strata.size());
    for (const auto& s : r.strata) o += fmt::format(" {} (n {}, {} events);", s.name, s.n, s.events);
    o.back() = '\n';
  }
  o += "\n";
  o += pad("", 24, false) + pad("coef", 12) + pad("exp(coef)", 12) + pad("se", 11) + pad("z", 9) + pad("p", 11) + "\n";
  for (const auto& c : r.coefficients)
    o += pad(c.term, 24, false) + pad(fmt_num(c.coef), 12) + pad(fmt_num(c.exp_coef), 12) + pad(fmt_num(c.se, 4), 11) + pad(fmt_num(c.z, 3), 9) +
         pad(fmt_num(c.p, 3), 11) + (c.infinite ? "  *" : "") + "\n";
  if (r.degenerate) o += "\n* may be infinite: see the warnings\n";
  o += fmt::format("\nlogLik = {} (null {}), LR test = {} on {} df, p = {}; concordance = {}\n", fmt_num(r.loglik, 10), fmt_num(r.loglik_null, 10),
                   fmt_num(r.lr_statistic, 6), r.lr_df, fmt_num(r.lr_p, 3), fmt_num(r.concordance.c(), 6));
  return o;
}

}  // namespace paramkit::survival
