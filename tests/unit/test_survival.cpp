// survfit's numbers against R (golden.json, written by tests/data/survival/golden.R), closed forms,
// finite differences and simulation.
#include <doctest/doctest.h>

#include <cmath>
#include <map>

#include "helpers.h"
#include "paramkit/core/error.h"
#include "paramkit/core/rng.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/io/json.h"
#include "paramkit/survival/fit.h"
#include "paramkit/survival/nonparam.h"
#include "paramkit/survival/predict.h"
#include "paramkit/survival/report.h"
#include "paramkit/survival/stats.h"

using namespace paramkit;
using namespace paramkit::survival;
using paramkit::test::data_file;
using paramkit::test::scratch;
using paramkit::test::spit;

namespace {
const nlohmann::json& golden() {
  static nlohmann::json g = read_json(data_file("survival/golden.json"));
  return g;
}
SurvData load(const std::string& name, const std::vector<std::string>& cols, bool positive = true) {
  SurvSpec s;
  s.positive_times = positive;
  return load_surv(read_csv(data_file("survival/" + name + ".csv")), s, cols);
}
void close_rel(double got, double want, double rel) {
  CHECK(std::fabs(got - want) <= rel * std::max(std::fabs(want), 1e-3));
}
std::vector<std::string> columns_of(const std::string& f) { return parse_formula(f, "test").columns(); }
const nlohmann::json& coef_row(const nlohmann::json& params, size_t k, const std::string& term) {
  for (const auto& c : params[k]["coefficients"])
    if (c["term"] == term) return c;
  FAIL("no term " << term);
  return params;
}
}  // namespace

TEST_CASE("survreg parity: weibull, exponential, loglogistic, lognormal on veteran and lung (R golden, 1e-5)") {
  for (const auto& g : golden()["survreg"]) {
    const std::string data = g["data"], formula = g["formula"], dist = g["dist"];
    CAPTURE(data);
    CAPTURE(formula);
    CAPTURE(dist);
    SurvData d = load(data, columns_of(formula));
    CHECK(d.n() == g["n"].get<size_t>());
    FitOptions o;
    o.family = dist;
    o.formulas["mu"] = formula;
    FitResult r = fit_parametric(d, o);
    REQUIRE(r.converged);
    close_rel(r.loglik, g["loglik"].get<double>(), 1e-8);
    for (auto it = g["coef"].begin(); it != g["coef"].end(); ++it) {
      CAPTURE(it.key());
      const auto& row = coef_row(r.report["parameters"], 0, it.key());
      close_rel(row["estimate"].get<double>(), it.value().get<double>(), 1e-5);
      close_rel(row["se"].get<double>(), g["se"][it.key()].get<double>(), 1e-4);
    }
    close_rel(r.report["survreg"]["scale"].get<double>(), g["scale"].get<double>(), 1e-5);
  }
}

TEST_CASE("coxph parity: Efron and Breslow ties, numeric and categorical covariates, concordance (R golden)") {
  for (const auto& g : golden()["coxph"]) {
    const std::string data = g["data"], formula = g["formula"], ties = g["ties"];
    CAPTURE(data);
    CAPTURE(formula);
    CAPTURE(ties);
    Formula f = parse_formula(formula, "test");
    SurvData d = load(data, f.columns(), false);
    resolve_formula(f, d.rows, {});
    CoxOptions o;
    o.ties = ties;
    CoxResult r = fit_cox(d, f, o);
    REQUIRE(r.converged);
    close_rel(r.loglik_null, g["loglik"][0].get<double>(), 1e-9);
    close_rel(r.loglik, g["loglik"][1].get<double>(), 1e-9);
    for (auto it = g["coef"].begin(); it != g["coef"].end(); ++it) {
      CAPTURE(it.key());
      const auto& rows = r.coefficients;
      auto row = std::find_if(rows.begin(), rows.end(), [&](const CoxCoefficient& x) { return x.term == it.key(); });
      REQUIRE(row != rows.end());
      close_rel(row->coef, it.value().get<double>(), 1e-6);
      close_rel(row->se, g["se"][it.key()].get<double>(), 1e-5);
    }
    close_rel(r.concordance.c(), g["concordance"].get<double>(), 1e-9);
  }
}

TEST_CASE("coxph parity: strata and start-stop counting-process rows, both ties, concordance (R golden)") {
  for (const auto& g : golden()["coxph_strata_counting"]) {
    const std::string data = g["data"], formula = g["formula"], ties = g["ties"];
    CAPTURE(data);
    CAPTURE(formula);
    CAPTURE(ties);
    Formula f = parse_formula(formula, "test");
    SurvSpec spec;
    spec.positive_times = false;
    spec.time = g["time"];
    spec.status = g["status"];
    if (!g["entry"].is_null()) spec.entry = g["entry"];
    SurvData d = load_surv(read_csv(data_file("survival/" + data + ".csv")), spec, f.columns());
    CHECK(d.n() == g["n"].get<size_t>());
    resolve_formula(f, d.rows, {});
    CoxOptions o;
    o.ties = ties;
    CoxResult r = fit_cox(d, f, o);
    REQUIRE(r.converged);
    CHECK(r.counting == !g["entry"].is_null());
    REQUIRE(r.strata.size() == g["strata"].size());
    for (size_t k = 0; k < r.strata.size(); ++k) CHECK(r.strata[k].name == g["strata"][k].get<std::string>());
    close_rel(r.loglik_null, g["loglik"][0].get<double>(), 1e-9);
    close_rel(r.loglik, g["loglik"][1].get<double>(), 1e-9);
    REQUIRE(r.coefficients.size() == g["coef"].size());
    for (auto it = g["coef"].begin(); it != g["coef"].end(); ++it) {
      CAPTURE(it.key());
      const auto& rows = r.coefficients;
      auto row = std::find_if(rows.begin(), rows.end(), [&](const CoxCoefficient& x) { return x.term == it.key(); });
      REQUIRE(row != rows.end());
      close_rel(row->coef, it.value().get<double>(), 1e-6);
      close_rel(row->se, g["se"][it.key()].get<double>(), 1e-5);
    }
    close_rel(r.concordance.c(), g["concordance"].get<double>(), 1e-9);
  }
}

TEST_CASE("strata() is a Cox term: parsed apart from the design, refused inside interactions and by parametric fits") {
  Formula f = parse_formula("trt + strata(celltype, sex) + karno", "--formula");
  CHECK(f.terms.size() == 2);
  CHECK(f.strata == std::vector<std::string>{"celltype", "sex"});
  CHECK(f.columns() == std::vector<std::string>{"trt", "karno", "celltype", "sex"});
  CHECK_THROWS_WITH_AS(parse_formula("trt * strata(celltype)", "--formula"), doctest::Contains("interaction"), UsageError);
  CHECK_THROWS_WITH_AS(parse_formula("trt + strata(celltype", "--formula"), doctest::Contains("unclosed"), UsageError);
  CHECK_THROWS_WITH_AS(parse_formula("strata(a, a)", "--formula"), doctest::Contains("twice"), UsageError);
  SurvData d = load("veteran", {"trt", "celltype"});
  FitOptions o;
  o.family = "weibull";
  o.formulas["mu"] = "trt + strata(celltype)";
  CHECK_THROWS_WITH_AS(fit_parametric(d, o), doctest::Contains("strata() is for Cox models"), UsageError);
}

TEST_CASE("concordance with entry times and strata counts only pairs at risk together (brute force)") {
  Rng rng(11);
  const size_t n = 60;
  std::vector<double> start(n), stop(n), risk(n);
  std::vector<uint8_t> event(n);
  std::vector<size_t> stratum(n);
  for (size_t i = 0; i < n; ++i) {
    start[i] = std::floor(rng.uniform() * 5);
    stop[i] = start[i] + 1 + std::floor(rng.uniform() * 6);  // integer times: many ties
    event[i] = rng.uniform() < 0.6;
    risk[i] = std::floor(rng.uniform() * 4);  // tied risks too
    stratum[i] = rng.uniform() < 0.5;
  }
  Concordance want;
  for (size_t i = 0; i < n; ++i) {
    if (!event[i]) continue;
    for (size_t j = 0; j < n; ++j) {
      if (j == i || stratum[j] != stratum[i]) continue;
      const bool at_risk = start[j] < stop[i] && stop[i] <= stop[j];
      if (!at_risk || (stop[j] == stop[i] && event[j])) continue;  // tied event times are not compared
      if (risk[i] > risk[j]) want.concordant += 1;
      else if (risk[i] < risk[j]) want.discordant += 1;
      else want.tied_risk += 1;
    }
  }
  const Concordance got = concordance(stop, event, risk, start, stratum);
  CHECK(got.concordant == want.concordant);
  CHECK(got.discordant == want.discordant);
  CHECK(got.tied_risk == want.tied_risk);
  CHECK(want.concordant + want.discordant > 100);
}

TEST_CASE("Kaplan-Meier parity: survival, Greenwood std.err, log CI, median and its CI (R golden)") {
  for (const auto& g : golden()["km"]) {
    CAPTURE(g["data"].get<std::string>());
    SurvData d = load(g["data"], {}, false);
    KaplanMeier km = kaplan_meier(d.time, d.event);
    size_t k = 0;
    for (size_t i = 0; i < km.time.size(); ++i) {
      if (km.n_event[i] == 0) continue;  // summary() lists event times only
      REQUIRE(k < g["time"].size());
      CHECK(km.time[i] == g["time"][k].get<double>());
      close_rel(km.surv[i], g["surv"][k].get<double>(), 1e-12);
      if (!g["std_err"][k].is_null()) close_rel(km.std_err[i], g["std_err"][k].get<double>(), 1e-10);
      if (!g["lower"][k].is_null()) close_rel(km.lower[i], g["lower"][k].get<double>(), 1e-10);
      if (!g["upper"][k].is_null()) close_rel(km.upper[i], g["upper"][k].get<double>(), 1e-10);
      ++k;
    }
    CHECK(k == g["time"].size());
    auto same = [](double got, const nlohmann::json& want) { return want.is_null() ? std::isnan(got) : got == want.get<double>(); };
    CHECK(same(km.median, g["median"]));
    CHECK(same(km.median_lower, g["median_lower"]));
    CHECK(same(km.median_upper, g["median_upper"]));
  }
  // The spec's facts: S(100) = 0.417995, median 80.
  SurvData v = load("veteran", {}, false);
  KaplanMeier km = kaplan_meier(v.time, v.event);
  CHECK(km.at(100) == doctest::Approx(0.417995).epsilon(1e-6));
  CHECK(km.median == 80);
}

TEST_CASE("Kaplan-Meier report per group: hand-computed curves, S(t) at times, table and JSON (nulls where undefined)") {
  // Group a: times 1, 2, 2+, 3 -> S = 3/4, 1/2 (2 has one event and one censoring), 0 (one at risk,
  // one event: Greenwood undefined). Group b: 4, 5+ -> S = 1/2 at 4.
  const auto dir = scratch("km-report");
  spit(dir / "d.csv", "time,status,g\n1,1,a\n2,1,a\n2,0,a\n3,1,a\n4,1,b\n5,0,b\n");
  DataOptions o;
  KmReport r = run_km((dir / "d.csv").string(), o, "g", {0.5, 2, 10});
  REQUIRE(r.curves.size() == 2);
  const KmCurve& a = r.curves[0];
  CHECK(a.group == "a");
  CHECK(r.curves[1].group == "b");
  CHECK(a.km.time == std::vector<double>{1, 2, 3});
  CHECK(a.km.surv[0] == doctest::Approx(0.75));
  CHECK(a.km.surv[1] == doctest::Approx(0.5));
  CHECK(a.km.surv[2] == 0);
  REQUIRE(a.at.size() == 3);
  CHECK(a.at[0].surv == 1);
  CHECK(a.at[1].surv == a.km.surv[1]);
  CHECK(a.at[2].surv == 0);
  CHECK(r.curves[1].at[1].surv == 1);
  CHECK(r.curves[1].at[2].surv == doctest::Approx(0.5));
  // Before the first time: S = 1 with se 0 and CI [1, 1]; at risk: every subject with time >= t.
  CHECK(a.at[0].std_err == 0);
  CHECK(a.at[0].lower == 1);
  CHECK(a.at[0].n_risk == 4);
  // At t = 2: S = 1/2, Greenwood var(log S) = 1/(4*3) + 1/(3*2) = 1/4, se(S) = 1/2 * 1/2; 3 at risk.
  CHECK(a.at[1].std_err == doctest::Approx(0.25));
  CHECK(a.at[1].n_risk == 3);
  CHECK(a.at[2].n_risk == 0);
  CHECK(a.km.median == 2.5);  // S = 1/2 exactly from t = 2: R's midpoint with the next event time, 3
  Table t = km_table(r);
  CHECK(t.rows == 5);
  CHECK(t.col("std_err").missing[2]);  // S = 0
  nlohmann::json j = r;
  CHECK(j["by"] == "g");
  CHECK(j["curves"][0]["table"][2]["std_err"].is_null());
  CHECK(j["curves"][0]["at"][1]["time"] == 2.0);
  CHECK(j["curves"][0]["at"][1]["surv"] == a.km.surv[1]);
  CHECK(j["curves"][0]["at"][1]["std_err"] == 0.25);
  CHECK(j["curves"][0]["at"][1]["n_risk"] == 3.0);
  CHECK(j["curves"][0]["at"][2]["std_err"].is_null());  // S = 0: Greenwood undefined
  CHECK(j["curves"][1]["n"] == 2.0);
  const std::string s = format_km(r);
  CHECK(s.find("a: n = 4, events = 3, median = 2.5") != std::string::npos);
  CHECK(s.find("  S(10) = 0 (se NA, 95% CI NA - NA; 0 at risk)\n") != std::string::npos);
  CHECK(s.find("  S(2) = 0.5 (se 0.25, 95% CI 0.18766 - 1; 3 at risk)\n") != std::string::npos);
}

TEST_CASE("write_km_report streams the report write_report writes, byte for byte (groups, empty and null cells)") {
  const auto dir = scratch("km-stream");
  spit(dir / "d.csv", "time,status,g\n1,1,a\n2,1,a\n2,0,a\n3,1,a\n4,1,b\n5,0,b\n0.1,1,c\n");
  DataOptions o;
  KmReport r = run_km((dir / "d.csv").string(), o, "g", {0.5, 2, 10});
  write_report(dir / "plain.json", r);
  write_km_report((dir / "streamed.json").string(), r);
  CHECK(read_file(dir / "streamed.json") == read_file(dir / "plain.json"));
  KmReport one = run_km(data_file("survival/veteran.csv"), o, "", {});
  write_report(dir / "plain1.json", one);
  write_km_report((dir / "streamed1.json").string(), one);
  CHECK(read_file(dir / "streamed1.json") == read_file(dir / "plain1.json"));
}

TEST_CASE("starts on a subsample and one run on all rows give the fit of every start on all rows") {
  // The thresholds lowered so that veteran (137 rows) takes the large-data path: starts on every 3rd row.
  SurvData d = load("veteran", {"trt", "karno"});
  for (const char* fam : {"apgw", "weibull"}) {
    CAPTURE(fam);
    FitOptions all;
    all.family = fam;
    all.formulas[std::string(fam) == "apgw" ? "lambda" : "mu"] = "trt + karno";
    if (std::string(fam) == "apgw") all.formulas["gamma"] = "karno";
    all.subsample_from = 0;
    FitOptions sub = all;
    sub.subsample_from = 100;
    sub.subsample_rows = 46;
    sub.subsample_fraction = 0;
    FitResult a = fit_parametric(d, all), b = fit_parametric(d, sub);
    REQUIRE(a.converged);
    REQUIRE(b.converged);
    CHECK(b.report["start"].get<std::string>().find("subsample of 46 rows") != std::string::npos);
    CHECK(a.report["start"].get<std::string>().find("subsample") == std::string::npos);
    close_rel(b.loglik, a.loglik, 1e-10);
    const auto& pa = a.report["parameters"];
    const auto& pb = b.report["parameters"];
    for (size_t k = 0; k < pa.size(); ++k)
      for (size_t j = 0; j < pa[k]["coefficients"].size(); ++j) {
        close_rel(pb[k]["coefficients"][j]["estimate"].get<double>(), pa[k]["coefficients"][j]["estimate"].get<double>(), 1e-5);
        close_rel(pb[k]["coefficients"][j]["se"].get<double>(), pa[k]["coefficients"][j]["se"].get<double>(), 1e-4);
      }
  }
}

TEST_CASE("ordinary fits are not flagged: every golden survreg and coxph fit has no infinite estimate") {
  for (const auto& g : golden()["coxph"]) {
    const std::string data = g["data"], formula = g["formula"];
    Formula f = parse_formula(formula, "--formula");
    SurvData d = load(data, f.columns(), false);
    resolve_formula(f, d.rows, {});
    CoxOptions o;
    o.ties = g["ties"];
    CoxResult r = fit_cox(d, f, o);
    CHECK_FALSE(r.degenerate);
    CHECK(r.warnings.empty());
  }
  FitOptions o;
  o.family = "apgw";
  o.formulas["lambda"] = "trt + karno";
  FitResult r = fit_parametric(load("veteran", {"trt", "karno"}), o);
  CHECK_FALSE(r.degenerate);
  CHECK(r.report["warnings"].empty());
}

TEST_CASE("formulas with interactions: R's terms, order and names, JSON round trip (old reports without interactions read)") {
  // R: attr(terms(~ b:a + a + b + c), "term.labels") is "a" "b" "c" "b:a" (variables ordered by first
  // appearance); ~ a*b*c gives a b c a:b a:c b:c a:b:c.
  Formula f = parse_formula("b:a + a + b + c", "--formula");
  REQUIRE(f.terms.size() == 3);
  CHECK(f.terms[0].column == "a");
  CHECK(f.terms[2].column == "c");
  CHECK(f.interactions == std::vector<std::vector<size_t>>{{1, 0}});
  CHECK(f.names() == std::vector<std::string>{"a", "b", "c", "b:a"});
  Formula g = parse_formula("a*b*c", "--formula");
  CHECK(g.names() == std::vector<std::string>{"a", "b", "c", "a:b", "a:c", "b:c", "a:b:c"});
  // A factor's dummies, the first variable varying fastest: x:g with g levels u (reference), v, w.
  Table t = parse_csv("x,g,h\n1,u,p\n2,v,q\n3,w,p\n4,v,q\n", "d.csv");
  Formula h = parse_formula("g * h + x", "--formula");
  resolve_formula(h, t, {});
  CHECK(h.names() == std::vector<std::string>{"gv", "gw", "hq", "x", "gv:hq", "gw:hq"});
  Design d = build_design(h, t, false);
  CHECK(d.at(1, 5) == 1);  // row 2: g = v, h = q
  CHECK(d.at(3, 6) == 0);
  Formula back = formula_from_json(formula_to_json(h), "r.json");
  CHECK(back.interactions == h.interactions);
  nlohmann::json old = formula_to_json(h);
  old.erase("interactions");
  CHECK(formula_from_json(old, "r.json").interactions.empty());
  CHECK_THROWS_WITH_AS(parse_formula("a:b", "--phi"), doctest::Contains("--phi: the interaction a:b needs the main effect of 'a'"), UsageError);
  CHECK_THROWS_WITH_AS(parse_formula("a + factor(a):b + b", "--formula"), doctest::Contains("written two ways"), UsageError);
}

TEST_CASE("APGW nesting: kappa = 1 (phi = 1) is the Weibull, Burr with lambda = 1 is the log-logistic, free kappa never lowers logLik") {
  SurvData d = load("veteran", {"trt", "karno"});
  FitOptions w;
  w.family = "weibull";
  w.formulas["mu"] = "trt + karno";
  FitResult weib = fit_parametric(d, w);
  FitOptions a;
  a.family = "apgw";
  a.formulas["lambda"] = "trt + karno";
  a.fixed = {{"kappa", 1.0}, {"phi", 1.0}};
  FitResult nested = fit_parametric(d, a);
  REQUIRE(nested.converged);
  close_rel(nested.loglik, weib.loglik, 1e-10);
  // PH coefficient = -AFT coefficient / scale.
  const double scale = weib.report["survreg"]["scale"].get<double>();
  close_rel(coef_row(nested.report["parameters"], 0, "karno")["estimate"].get<double>(),
            -coef_row(weib.report["parameters"], 0, "karno")["estimate"].get<double>() / scale, 1e-6);
  a.fixed.clear();
  FitResult full = fit_parametric(d, a);
  REQUIRE(full.converged);
  CHECK(full.loglik >= nested.loglik - 1e-9);
  CHECK(full.df == nested.df + 2);

  FitOptions ll;
  ll.family = "loglogistic";
  ll.formulas["mu"] = "trt + karno";
  FitResult llf = fit_parametric(d, ll);
  FitOptions b;
  b.family = "burr";
  b.fixed = {{"lambda", 1.0}};
  b.formulas["phi"] = "trt + karno";
  FitResult burr = fit_parametric(d, b);
  REQUIRE(burr.converged);
  close_rel(burr.loglik, llf.loglik, 1e-10);
  close_rel(coef_row(burr.report["parameters"], 1, "karno")["estimate"].get<double>(),
            -coef_row(llf.report["parameters"], 0, "karno")["estimate"].get<double>(), 1e-6);
  close_rel(burr.report["parameters"][2]["value"]["estimate"].get<double>(), 1 / llf.report["survreg"]["scale"].get<double>(), 1e-6);

  // The likelihood-ratio test of kappa = 1 (phi = 1) against free kappa and phi.
  LikelihoodRatio lrt = likelihood_ratio(full.report, nested.report);
  CHECK(lrt.df == 2);
  close_rel(lrt.statistic, 2 * (full.loglik - nested.loglik), 1e-12);
  close_rel(lrt.p, chi2_sf(lrt.statistic, 2), 1e-12);
}

TEST_CASE("autograd gradient and Hessian equal central finite differences (MPR APGW, left truncation)") {
  Table t = read_csv(data_file("survival/veteran.csv"));
  std::vector<double> entry(t.rows);
  for (size_t i = 0; i < t.rows; ++i) entry[i] = std::min(t.col("diagtime").values[i], t.col("time").values[i] * 0.5);
  t.columns.push_back(numeric_column("entry", entry));
  for (bool truncated : {false, true}) {
    CAPTURE(truncated);
    SurvSpec s;
    if (truncated) s.entry = "entry";
    SurvData d = load_surv(t, s, {"karno", "trt"});
    FitOptions o;
    o.family = "apgw";
    o.formulas = {{"lambda", "karno + trt"}, {"gamma", "karno"}};
    std::vector<double> th = {-1.0, -0.03, 0.1, -3.0, 0.2, 0.004, 0.4};
    LoglikValue v = evaluate_loglik(d, o, th);
    const size_t p = th.size();
    for (size_t i = 0; i < p; ++i) {
      const double h = 1e-5 * std::max(1.0, std::fabs(th[i]));
      std::vector<double> up = th, dn = th;
      up[i] += h;
      dn[i] -= h;
      LoglikValue vu = evaluate_loglik(d, o, up), vd = evaluate_loglik(d, o, dn);
      CAPTURE(i);
      CHECK(v.grad[i] == doctest::Approx((vu.value - vd.value) / (2 * h)).epsilon(1e-5));
      for (size_t j = 0; j < p; ++j) {
        CAPTURE(j);
        const double fd = (vu.grad[j] - vd.grad[j]) / (2 * h);
        CHECK(v.hess[i * p + j] == doctest::Approx(fd).epsilon(1e-4).scale(std::fabs(v.hess[j * p + j]) * 1e-6 + 1e-9));
      }
    }
  }
}

TEST_CASE("simulated APGW data (with a cure fraction) give back the parameters within 3 standard errors") {
  const Family& f = find_family("apgw");
  Model truth;
  truth.family = &f;
  // log lambda = -0.5 + 0.8 x; phi, gamma, kappa fixed per subject.
  Formula fx = parse_formula("x", "test");
  Table cov;
  cov.rows = 4000;
  std::vector<double> x(cov.rows);
  Rng rng(5);
  for (auto& v : x) v = rng.normal();
  cov.columns.push_back(numeric_column("x", x));
  resolve_formula(fx, cov, {});
  truth.formulas = {fx, Formula{}, Formula{}, Formula{}};
  truth.fixed = {std::nullopt, std::nullopt, std::nullopt, std::nullopt};
  const double phi = 0.5, gamma = 1.3, kappa = -0.4;
  truth.coef = {{-0.5, 0.8}, {std::log(phi)}, {std::log(gamma)}, {std::log1p(kappa)}};
  SimulateOptions so;
  so.seed = 11;
  so.admin = 40;
  so.censor_rate = 0.02;
  Table sim = simulate(truth, cov, so);
  SurvData d = load_surv(sim, SurvSpec{}, {"x"});
  FitOptions o;
  o.family = "apgw";
  o.formulas["lambda"] = "x";
  FitResult r = fit_parametric(d, o);
  REQUIRE(r.converged);
  std::vector<double> want = {-0.5, 0.8, std::log(phi), std::log(gamma), std::log1p(kappa)};
  std::vector<double> got, se;
  for (const auto& p : r.report["parameters"])
    for (const auto& c : p["coefficients"]) {
      got.push_back(c["estimate"].get<double>());
      se.push_back(c["se"].get<double>());
    }
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    CAPTURE(i);
    CHECK(std::fabs(got[i] - want[i]) < 3 * se[i]);
  }
  REQUIRE(r.report.contains("cure_fraction"));
  // The cure fraction at x = mean(x) ~ 0: exp(-lambda (kappa+1)/-kappa) with log lambda = -0.5 + 0.8 mean(x).
  double mx = 0;
  for (double v : x) mx += v / x.size();
  const double cure = std::exp(-std::exp(-0.5 + 0.8 * mx) * (kappa + 1) / -kappa);
  CHECK(r.report["cure_fraction"]["lower"].get<double>() <= cure);
  CHECK(r.report["cure_fraction"]["upper"].get<double>() >= cure);
}

TEST_CASE("inverse cumulative hazards invert every family, defective APGW never reaches its limit") {
  std::map<std::string, std::vector<double>> ps = {
      {"exponential", {2.0}},          {"weibull", {2.0, 0.7}},          {"loglogistic", {1.0, 0.5}},
      {"lognormal", {1.0, 0.8}},       {"weibull-ph", {0.1, 1.4}},       {"gompertz", {0.05, 0.2}},
      {"burr", {0.7, 0.3, 1.5}},       {"pgw", {0.5, 0.2, 1.2, 0.6}},    {"apgw", {0.5, 0.2, 1.2, 2.5}}};
  for (const auto& [name, p] : ps) {
    CAPTURE(name);
    const Family& f = find_family(name);
    for (double t : {0.1, 1.0, 7.5, 30.0}) {
      const double H = cumhaz(f, t, p);
      CHECK(inverse_cumhaz(f, H, p) == doctest::Approx(t).epsilon(1e-9));
      // h = dH/dt.
      CHECK(hazard(f, t, p) == doctest::Approx((cumhaz(f, t * (1 + 1e-6), p) - cumhaz(f, t * (1 - 1e-6), p)) / (2e-6 * t)).epsilon(1e-6));
    }
  }
  const Family& a = find_family("apgw");
  std::vector<double> cure = {0.5, 0.2, 1.2, -0.3};
  const double lim = cumhaz_limit(a, cure);
  CHECK(lim == doctest::Approx(0.5 * 0.7 / 0.3));
  CHECK(cumhaz(a, 1e30, cure) == doctest::Approx(lim).epsilon(1e-6));
  CHECK(std::isinf(inverse_cumhaz(a, lim * 1.01, cure)));
  // kappa = 0 (Burr) and kappa = 1 (Weibull) special cases of the APGW formula.
  CHECK(cumhaz(a, 3.0, {0.5, 0.2, 1.2, 0.0}) == doctest::Approx(0.5 * std::log1p(std::pow(0.6, 1.2))));
  CHECK(cumhaz(a, 3.0, {0.5, 0.2, 1.2, 1.0}) == doctest::Approx(0.5 * std::pow(0.6, 1.2)));
}

TEST_CASE("normal and chi-square functions against R") {
  CHECK(normal_quantile(0.975) == doctest::Approx(1.95996398454005).epsilon(1e-13));
  CHECK(normal_quantile(1e-10) == doctest::Approx(-6.36134090240406).epsilon(1e-11));  // qnorm(1e-10)
  CHECK(chi2_sf(3.84, 1) == doctest::Approx(0.0500435212487052).epsilon(1e-12));
  CHECK(chi2_sf(10, 4) == doctest::Approx(0.0404276819945128).epsilon(1e-12));
  CHECK(chi2_sf(0.5, 7) == doctest::Approx(0.999446481390425).epsilon(1e-12));
  CHECK(normal_log_sf(10) == doctest::Approx(-53.2312851505125).epsilon(1e-12));  // pnorm(10, lower=F, log=T)
}

TEST_CASE("concordance equals counting every pair") {
  Rng rng(3);
  std::vector<double> t(300), risk(300);
  std::vector<uint8_t> e(300);
  for (size_t i = 0; i < t.size(); ++i) {
    t[i] = static_cast<double>(rng.below(40));  // many tied times
    e[i] = rng.uniform() < 0.7;
    risk[i] = static_cast<double>(rng.below(25));  // many tied risks
  }
  Concordance c = concordance(t, e, risk);
  double conc = 0, disc = 0, tied = 0;
  for (size_t i = 0; i < t.size(); ++i)
    for (size_t j = 0; j < t.size(); ++j) {
      if (!e[i]) continue;
      if (!(t[i] < t[j] || (t[i] == t[j] && !e[j]))) continue;
      if (risk[i] > risk[j]) ++conc;
      else if (risk[i] < risk[j]) ++disc;
      else ++tied;
    }
  CHECK(c.concordant == conc);
  CHECK(c.discordant == disc);
  CHECK(c.tied_risk == tied);
}

TEST_CASE("bad survival data: messages name the file, column and row") {
  auto parse = [](const std::string& csv) { return parse_csv(csv, "d.csv"); };
  CHECK_THROWS_WITH_AS(load_surv(parse("time,status\n1,1\n-2,0\n"), SurvSpec{}, {}), doctest::Contains("d.csv: column 'time', data row 2 (line 3)"), InputError);
  // The file's line, not the index among kept rows: a dropped NA row and a quoted newline before it.
  CHECK_THROWS_WITH_AS(load_surv(parse("time,status,note\n1,1,\"a\nb\"\nNA,1,c\n-2,0,d\n"), SurvSpec{}, {}),
                       doctest::Contains("column 'time', data row 3 (line 5): time -2"), InputError);
  CHECK_THROWS_WITH_AS(load_surv(parse("time,status\n1,1\n2,1\nabc,0\n"), SurvSpec{}, {}), doctest::Contains("column 'time', data row 3 (line 4): expected a number, got 'abc'"), InputError);
  CHECK_THROWS_WITH_AS(load_surv(parse("time,status\n1,1\nx,0\n"), SurvSpec{}, {}), doctest::Contains("d.csv"), InputError);
  CHECK_THROWS_WITH_AS(load_surv(parse("time,status\n1,1\n2,3\n"), SurvSpec{}, {}), doctest::Contains("status 3 is outside the coding"), InputError);
  CHECK_THROWS_WITH_AS(load_surv(parse("time,status\n1,0\n2,0\n"), SurvSpec{}, {}), doctest::Contains("every observation is censored"), InputError);
  CHECK_THROWS_WITH_AS(load_surv(parse("time,status\n1,1\n"), SurvSpec{}, {"age"}), doctest::Contains("age"), InputError);
  SurvSpec fail;
  fail.na_fail = true;
  CHECK_THROWS_WITH_AS(load_surv(parse("time,status,x\n1,1,2\n2,1,NA\n"), fail, {"x"}), doctest::Contains("column 'x', data row 2 (line 3): missing"), InputError);
  SurvData d = load_surv(parse("time,status,x\n1,1,2\n2,1,NA\n3,0,1\n"), SurvSpec{}, {"x"});
  CHECK(d.n() == 2);
  CHECK(d.dropped == 1);
  // R's 1/2 coding.
  SurvData l = load_surv(parse("time,status\n1,2\n2,1\n"), SurvSpec{}, {});
  CHECK(l.event == std::vector<uint8_t>{1, 0});
  // Collinear covariates: x2 = 2 x1.
  SurvData c = load_surv(parse("time,status,x1,x2\n1,1,1,2\n2,1,2,4\n3,0,3,6\n4,1,5,10\n"), SurvSpec{}, {"x1", "x2"});
  FitOptions o;
  o.family = "weibull";
  o.formulas["mu"] = "x1 + x2";
  CHECK_THROWS_WITH_AS(fit_parametric(c, o), doctest::Contains("covariate 'x2' of mu"), InputError);
}
