#include "paramkit/survival/commands.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fmt/format.h>
#include <set>
#include <sstream>

#include "paramkit/core/error.h"
#include "paramkit/survival/nonparam.h"
#include "paramkit/survival/plot.h"

namespace paramkit::survival {
namespace {
std::pair<std::string, std::string> split_eq(const std::string& s, const std::string& flag) {
  size_t e = s.find('=');
  if (e == std::string::npos || e == 0 || e + 1 == s.size()) throw UsageError(flag + ": expected name=value, got '" + s + "'");
  return {s.substr(0, e), s.substr(e + 1)};
}
double to_number(const std::string& s, const std::string& flag) {
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || !std::isfinite(v)) throw UsageError(flag + ": '" + s + "' is not a number");
  return v;
}
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
  for (size_t i = 0; i < d.n(); ++i) g[c ? group_name(*c, i) : "all"].push_back(i);
  return {g.begin(), g.end()};
}
}  // namespace

std::vector<double> parse_list(const std::string& s, const std::string& flag) {
  std::vector<double> v;
  if (s.empty()) return v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) v.push_back(to_number(item, flag));
  return v;
}

void DataOptions::register_flags(CLI::App& app) {
  app.add_option("--time", time, "Time column")->capture_default_str();
  app.add_option("--status", status, "Event indicator column")->capture_default_str();
  app.add_option("--entry", entry, "Entry-time column (left truncation)");
  app.add_option("--event-value", event_value, "Status value meaning an event (default: R's rule, 0/1 -> 1, 1/2 -> 2)");
  app.add_option("--na", na, "Rows with missing values: drop (with a count) or fail")->capture_default_str()->check(CLI::IsMember({"drop", "fail"}));
  app.add_option("--ref", refs, "Reference level of a categorical covariate: column=level (repeatable)");
  app.add_option("--conf", conf, "Confidence level of intervals")->capture_default_str()->check(CLI::Range(0.5, 0.9999));
}

std::map<std::string, std::string> DataOptions::ref_map() const {
  std::map<std::string, std::string> m;
  for (const auto& r : refs) m.insert(split_eq(r, "--ref"));
  return m;
}

SurvSpec DataOptions::spec(bool positive_times) const {
  SurvSpec s;
  s.time = time;
  s.status = status;
  s.entry = entry;
  if (!std::isnan(event_value)) s.event_value = event_value;
  s.na_fail = na == "fail";
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
    for (const auto& c : parse_formula(f, "--" + p).columns()) cols.push_back(c);
  o.refs = d.ref_map();
  o.conf = d.conf;
  return load_data(path, d, cols, true);
}

void FitCommand::register_flags(CLI::App& app) {
  std::string fams;
  for (const auto& f : families()) fams += (fams.empty() ? "" : ", ") + f.name;
  app.add_option("--family", family, "Distribution: " + fams)->capture_default_str();
  app.add_option("--formula", formula, "Covariates of the family's first parameter (mu, lambda or rate), e.g. 'trt + karno'");
  for (const char* p : {"mu", "scale", "lambda", "phi", "gamma", "kappa", "rate", "shape"})
    app.add_option_function<std::string>(std::string("--") + p, [this, p](const std::string& v) { by_param[p] = v; },
                                          std::string("Covariates of parameter ") + p + " (multi-parameter regression)");
  app.add_option("--fix", fixed, "Fix a parameter on its natural scale: name=value (repeatable), e.g. kappa=1");
  app.add_option("--max-iter", max_iter, "Newton iterations per start")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--plot", plot, "Fitted survival over Kaplan-Meier (SVG)");
  app.add_option("--plot-by", plot_by, "Column whose levels get separate curves in --plot");
}

FitOptions FitCommand::options() const {
  FitOptions o;
  o.family = family;
  const Family& f = find_family(family);
  o.formulas = by_param;
  if (!formula.empty()) {
    const std::string& first = f.params[0].name;
    if (by_param.count(first)) throw UsageError("--formula and --" + first + " both give covariates of " + first);
    o.formulas[first] = formula;
  }
  for (const auto& s : fixed) {
    auto [k, v] = split_eq(s, "--fix");
    o.fixed[k] = to_number(v, "--fix " + k);
  }
  o.max_iter = max_iter;
  return o;
}

void SimulateCommand::register_flags(CLI::App& app) {
  app.add_option("--fit", fit_path, "Simulate from a report of 'survfit fit'");
  std::string fams;
  for (const auto& f : families()) fams += (fams.empty() ? "" : ", ") + f.name;
  app.add_option("--family", family, "Or from a given model of this family (" + fams + ") ...");
  app.add_option("--set", set, "... with these parameter values: name=value (natural scale, repeatable)");
  app.add_option("--n", n, "Rows to simulate (default: one per --data row)");
  app.add_option("--censor-uniform", censor_uniform, "Random censoring uniform on (0, this)")->check(CLI::NonNegativeNumber);
  app.add_option("--censor-rate", censor_rate, "Random exponential censoring with this rate")->check(CLI::NonNegativeNumber);
  app.add_option("--admin", admin, "Administrative censoring time")->check(CLI::PositiveNumber);
}

Table SimulateCommand::run(const Table& covariates, uint64_t seed) const {
  Model m;
  if (!fit_path.empty() == !family.empty()) throw UsageError("give either --fit or --family (with --set)");
  if (!fit_path.empty()) {
    m = Model::from_report(fit_path);
  } else {
    const Family& f = find_family(family);
    std::map<std::string, double> v;
    for (const auto& s : set) {
      auto [k, x] = split_eq(s, "--set");
      v[k] = to_number(x, "--set " + k);
    }
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
  }
  SimulateOptions so;
  so.n = n;
  so.seed = seed;
  so.censor_uniform = censor_uniform;
  so.censor_rate = censor_rate;
  so.admin = admin;
  return simulate(m, covariates, so);
}

nlohmann::json run_km(const std::string& path, const DataOptions& o, const std::string& by, const std::vector<double>& times) {
  std::vector<std::string> cols;
  if (!by.empty()) cols.push_back(by);
  SurvData d = load_data(path, o, cols, false);
  const auto groups = groups_of(d, by);
  nlohmann::json curves = nlohmann::json::array();
  for (const auto& [name, rows] : groups) {
    std::vector<double> t;
    std::vector<uint8_t> e;
    for (size_t i : rows) {
      t.push_back(d.time[i]);
      e.push_back(d.event[i]);
    }
    KaplanMeier km = kaplan_meier(t, e, o.conf);
    nlohmann::json j = km.to_json();
    j["group"] = name;
    nlohmann::json at = nlohmann::json::array();
    for (double x : times) at.push_back({{"time", x}, {"surv", km.at(x)}});
    j["at"] = at;
    curves.push_back(j);
  }
  return {{"data", path}, {"by", by}, {"dropped_na", d.dropped}, {"conf_level", o.conf}, {"curves", curves}};
}

Table km_table(const nlohmann::json& rep) {
  std::vector<std::string> group;
  std::vector<double> cols[8];
  static const char* names[] = {"time", "n_risk", "n_event", "n_censor", "surv", "std_err", "lower", "upper"};
  for (const auto& c : rep["curves"])
    for (const auto& r : c["table"]) {
      group.push_back(c["group"].get<std::string>());
      for (int k = 0; k < 8; ++k) cols[k].push_back(r[names[k]].is_null() ? NAN : r[names[k]].get<double>());
    }
  Table t;
  t.source = "km";
  t.rows = group.size();
  t.columns.push_back(categorical_column("group", group));
  for (int k = 0; k < 8; ++k) t.columns.push_back(numeric_column(names[k], cols[k]));
  return t;
}

namespace {
std::vector<Curve> km_curves(const nlohmann::json& rep, bool with_ci) {
  std::vector<Curve> out;
  int color = 0;
  for (const auto& c : rep["curves"]) {
    Curve k, lo, hi;
    k.label = "KM " + c["group"].get<std::string>();
    k.step = lo.step = hi.step = true;
    lo.dashed = hi.dashed = true;
    lo.legend = hi.legend = false;
    k.color = lo.color = hi.color = color++;
    k.t = lo.t = hi.t = {0.0};
    k.s = lo.s = hi.s = {1.0};
    for (const auto& r : c["table"]) {
      double t = r["time"].get<double>();
      k.t.push_back(t);
      k.s.push_back(r["surv"].get<double>());
      lo.t.push_back(t);
      lo.s.push_back(r["lower"].is_null() ? NAN : r["lower"].get<double>());
      hi.t.push_back(t);
      hi.s.push_back(r["upper"].is_null() ? NAN : r["upper"].get<double>());
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

std::string km_plot_svg(const nlohmann::json& rep, const std::string& title) {
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
    for (int s = 0; s <= 100; ++s) {
      const double x = tmax * s / 100.0;
      double acc = 0;
      for (size_t i : members) acc += x == 0 ? 1.0 : std::exp(-cumhaz(*fit.model.family, x, params[i]));
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
           pad(fmt::format("[{}, {}]", fmt_num(c["lower"].get<double>(), 5), fmt_num(c["upper"].get<double>(), 5)), 26) + "\n";
    }
  }
  if (r.contains("survreg") && r["survreg"].contains("scale")) o += fmt::format("\nscale = {} (survreg's)\n", fmt_num(r["survreg"]["scale"].get<double>()));
  if (r.contains("cure_fraction"))
    o += fmt::format("\ncure fraction {} [{}, {}] at the covariate means\n", fmt_num(r["cure_fraction"]["estimate"].get<double>(), 4),
                     fmt_num(r["cure_fraction"]["lower"].get<double>(), 4), fmt_num(r["cure_fraction"]["upper"].get<double>(), 4));
  o += fmt::format("\nlogLik = {} (df = {}), AIC = {}, BIC = {}; {} after {} iterations (start: {})\n", fmt_num(r["loglik"].get<double>(), 10),
                   r["df"].get<int>(), fmt_num(r["aic"].get<double>(), 8), fmt_num(r["bic"].get<double>(), 8), r["message"].get<std::string>(),
                   r["iterations"].get<int>(), r["start"].get<std::string>());
  return o;
}

std::string format_km(const nlohmann::json& r) {
  std::string o;
  for (const auto& c : r["curves"]) {
    const int pct = static_cast<int>(std::lround(r["conf_level"].get<double>() * 100));
    auto num = [](const nlohmann::json& v) { return v.is_null() ? std::string("NA") : fmt_num(v.get<double>()); };
    o += fmt::format("{}: n = {}, events = {}, median = {} ({}% CI {} - {})\n", c["group"].get<std::string>(), c["n"].get<double>(),
                     c["events"].get<double>(), num(c["median"]), pct, num(c["median_lower"]), num(c["median_upper"]));
    for (const auto& a : c["at"]) o += fmt::format("  S({}) = {}\n", fmt_num(a["time"].get<double>()), fmt_num(a["surv"].get<double>()));
  }
  return o;
}

std::string format_cox(const nlohmann::json& r) {
  std::string o = fmt::format("Cox PH ({} ties): n = {}, events = {}\n\n", r["ties"].get<std::string>(), r["n"].get<size_t>(), r["events"].get<size_t>());
  o += pad("", 24, false) + pad("coef", 12) + pad("exp(coef)", 12) + pad("se", 11) + pad("z", 9) + pad("p", 11) + "\n";
  for (const auto& c : r["coefficients"])
    o += pad(c["term"].get<std::string>(), 24, false) + pad(fmt_num(c["coef"].get<double>()), 12) + pad(fmt_num(c["exp_coef"].get<double>()), 12) +
         pad(fmt_num(c["se"].get<double>(), 4), 11) + pad(fmt_num(c["z"].get<double>(), 3), 9) + pad(fmt_num(c["p"].get<double>(), 3), 11) + "\n";
  o += fmt::format("\nlogLik = {} (null {}), LR test = {} on {} df, p = {}; concordance = {}\n", fmt_num(r["loglik"].get<double>(), 10),
                   fmt_num(r["loglik_null"].get<double>(), 10), fmt_num(r["lr_test"]["statistic"].get<double>(), 6), r["lr_test"]["df"].get<int>(),
                   fmt_num(r["lr_test"]["p"].get<double>(), 3), fmt_num(r["concordance"]["c"].get<double>(), 6));
  return o;
}

}  // namespace paramkit::survival
