#include "paramkit/survival/fit.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/json.h"
#include "paramkit/numeric/newton.h"
#include "paramkit/survival/nonparam.h"
#include "paramkit/survival/stats.h"

namespace paramkit::survival {
namespace {

using Vec = std::vector<double>;

torch::Tensor to_tensor(const Vec& v) { return torch::tensor(v, torch::kFloat64); }

// The log-likelihood of one model structure over the data, as a function of the stacked coefficient
// vector of the free parameters. Designs are kept as n x p_k double tensors.
class Objective {
 public:
  Objective(const Family& f, const SurvData& d, std::vector<torch::Tensor> designs, std::vector<std::optional<double>> fixed)
      : f_(f), x_(std::move(designs)), fixed_(std::move(fixed)) {
    t_ = torch::tensor(d.time, torch::kFloat64);
    std::vector<double> ev(d.event.begin(), d.event.end());
    d_ = torch::tensor(ev, torch::kFloat64);
    if (!d.entry.empty()) {
      entry_ = torch::tensor(d.entry, torch::kFloat64);
      truncated_ = entry_ > 0;
      entry_ = torch::where(truncated_, entry_, torch::ones_like(entry_));  // avoid log(0); masked below
    }
    n_ = static_cast<int64_t>(d.n());
    for (size_t k = 0; k < x_.size(); ++k) {
      offset_.push_back(size_);
      size_ += fixed_[k] ? 0 : x_[k].size(1);
    }
  }
  int64_t size() const { return size_; }

  double value(const Vec& theta) {
    torch::NoGradGuard ng;
    return loglik(etas(theta)).item<double>();
  }

  // Log-likelihood, gradient and Hessian (row-major size x size) at theta.
  double derivs(const Vec& theta, Vec& grad, Vec& hess) {
    std::vector<torch::Tensor> e = etas(theta);
    std::vector<int> free;
    for (size_t k = 0; k < x_.size(); ++k)
      if (!fixed_[k]) free.push_back(static_cast<int>(k));
    torch::Tensor E = torch::stack(gather(e, free), 1).detach().requires_grad_(true);
    for (size_t j = 0; j < free.size(); ++j) e[free[j]] = E.select(1, static_cast<int64_t>(j));
    torch::Tensor ll = loglik(e);
    torch::Tensor G = torch::autograd::grad({ll}, {E}, {}, true, true)[0];  // n x K: d l_i / d eta_ik
    grad.assign(size_, 0.0);
    hess.assign(size_ * size_, 0.0);
    std::vector<torch::Tensor> W;  // W[j]: n x K, d^2 l_i / d eta_ij d eta_ik
    for (size_t j = 0; j < free.size(); ++j)
      W.push_back(torch::autograd::grad({G.select(1, static_cast<int64_t>(j)).sum()}, {E}, {}, true, false)[0].detach());
    G = G.detach();
    for (size_t j = 0; j < free.size(); ++j) {
      const torch::Tensor& xj = x_[free[j]];
      torch::Tensor gj = xj.t().mv(G.select(1, static_cast<int64_t>(j))).contiguous();
      const int64_t pj = xj.size(1), oj = offset_[free[j]];
      for (int64_t a = 0; a < pj; ++a) grad[oj + a] = gj[a].item<double>();
      for (size_t l = 0; l < free.size(); ++l) {
        const torch::Tensor& xl = x_[free[l]];
        torch::Tensor block = xj.t().mm(xl * W[j].select(1, static_cast<int64_t>(l)).unsqueeze(1)).contiguous();
        const int64_t pl = xl.size(1), ol = offset_[free[l]];
        const double* b = block.data_ptr<double>();
        for (int64_t a = 0; a < pj; ++a)
          for (int64_t c = 0; c < pl; ++c) hess[(oj + a) * size_ + ol + c] = b[a * pl + c];
      }
    }
    return ll.item<double>();
  }

 private:
  static std::vector<torch::Tensor> gather(const std::vector<torch::Tensor>& v, const std::vector<int>& idx) {
    std::vector<torch::Tensor> out;
    for (int i : idx) out.push_back(v[i]);
    return out;
  }
  std::vector<torch::Tensor> etas(const Vec& theta) const {
    std::vector<torch::Tensor> e;
    for (size_t k = 0; k < x_.size(); ++k) {
      if (fixed_[k]) {
        e.push_back(torch::full({n_}, link(f_.params[k].link, *fixed_[k]), torch::kFloat64));
      } else {
        Vec b(theta.begin() + offset_[k], theta.begin() + offset_[k] + x_[k].size(1));
        e.push_back(x_[k].mv(to_tensor(b)));
      }
    }
    return e;
  }
  torch::Tensor loglik(const std::vector<torch::Tensor>& e) const {
    std::vector<torch::Tensor> p;
    for (size_t k = 0; k < e.size(); ++k) p.push_back(link_inverse(f_.params[k].link, e[k]));
    HazardTerms h = hazard_terms(f_, t_, p);
    torch::Tensor l = d_ * h.log_h - h.H;
    if (entry_.defined()) {
      HazardTerms h0 = hazard_terms(f_, entry_, p);
      l = l + torch::where(truncated_, h0.H, torch::zeros_like(h0.H));
    }
    return l.sum();
  }

  const Family& f_;
  std::vector<torch::Tensor> x_;
  std::vector<std::optional<double>> fixed_;
  std::vector<int64_t> offset_;
  int64_t size_ = 0, n_ = 0;
  torch::Tensor t_, d_, entry_, truncated_;
};

using numeric::NewtonResult;
using numeric::spd_inverse;

// Maximises the log-likelihood from theta (Newton with damping and line search: numeric/newton.h).
NewtonResult newton(Objective& obj, Vec theta, int max_iter, double tol) {
  numeric::NewtonOptions no;
  no.max_iter = max_iter;
  no.tol = tol;
  return numeric::maximize([&](const Vec& t) { return obj.value(t); },
                           [&](const Vec& t, Vec& g, Vec& h) { return obj.derivs(t, g, h); }, std::move(theta), no);
}

}  // namespace

std::vector<std::vector<double>> Model::params(const Table& data) const {
  const size_t K = family->params.size();
  std::vector<std::vector<double>> out(data.rows, std::vector<double>(K));
  size_t free_i = 0;
  for (size_t k = 0; k < K; ++k) {
    if (fixed[k]) {
      for (auto& row : out) row[k] = *fixed[k];
      continue;
    }
    Design d = build_design(formulas[k], data, false);
    const Vec& b = coef[free_i++];
    for (int64_t r = 0; r < d.rows; ++r) {
      double eta = 0;
      for (int64_t c = 0; c < d.cols; ++c) eta += d.at(r, c) * b[c];
      out[r][k] = link_inverse(family->params[k].link, eta);
    }
  }
  return out;
}

nlohmann::json Model::to_json() const {
  nlohmann::json ps = nlohmann::json::array();
  size_t free_i = 0;
  for (size_t k = 0; k < family->params.size(); ++k) {
    nlohmann::json p = {{"name", family->params[k].name}, {"link", link_name(family->params[k].link)},
                        {"formula", formula_to_json(formulas[k])}};
    if (fixed[k]) p["fixed"] = *fixed[k];
    else p["coefficients"] = coef[free_i++];
    ps.push_back(p);
  }
  return {{"family", family->name}, {"parameters", ps}};
}

Model Model::from_json(const nlohmann::json& j, const std::string& source) {
  Model m;
  try {
    m.family = &find_family(j.at("family").get<std::string>());
    const auto& ps = j.at("parameters");
    if (ps.size() != m.family->params.size()) throw InputError(source, "model.parameters", "expected one entry per parameter of " + m.family->name);
    for (size_t k = 0; k < ps.size(); ++k) {
      m.formulas.push_back(formula_from_json(ps[k].at("formula"), source));
      if (ps[k].contains("fixed")) {
        m.fixed.push_back(ps[k]["fixed"].get<double>());
      } else {
        m.fixed.push_back(std::nullopt);
        m.coef.push_back(ps[k].at("coefficients").get<Vec>());
        size_t want = 1;
        for (const auto& t : m.formulas.back().terms) want += t.names().size();
        if (m.coef.back().size() != want)
          throw InputError(source, "model.parameters[" + std::to_string(k) + "].coefficients", "expected " + std::to_string(want) + " values");
      }
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(source, "model", std::string("malformed: ") + e.what());
  }
  return m;
}

namespace {
// The model structure of a fit: formulas resolved on the data, fixed values, design matrices (original
// and standardised). UsageError for unknown parameters, InputError for collinear covariates.
struct Prepared {
  Model m;
  std::vector<Design> designs;
  std::vector<torch::Tensor> xs_std, xs_orig;
};

Prepared prepare(const SurvData& data, const FitOptions& o) {
  const Family& fam = find_family(o.family);
  const size_t K = fam.params.size();
  for (const auto& [name, _] : o.formulas) {
    if (std::none_of(fam.params.begin(), fam.params.end(), [&](const ParamInfo& p) { return p.name == name; })) {
      std::string all;
      for (const auto& p : fam.params) all += (all.empty() ? "" : ", ") + p.name;
      throw UsageError("family " + fam.name + " has no parameter '" + name + "' (parameters: " + all + ")");
    }
  }
  for (const auto& [name, v] : o.fixed) {
    auto it = std::find_if(fam.params.begin(), fam.params.end(), [&](const ParamInfo& p) { return p.name == name; });
    if (it == fam.params.end()) throw UsageError("family " + fam.name + " has no parameter '" + name + "' to fix");
    if (!std::isfinite(link(it->link, v))) throw UsageError("fixed " + name + " = " + std::to_string(v) + " is outside its range");
    if (o.formulas.count(name)) throw UsageError("parameter '" + name + "' cannot be both fixed and given covariates");
  }
  Prepared pr;
  Model& m = pr.m;
  m.family = &fam;
  for (size_t k = 0; k < K; ++k) {
    const std::string& pn = fam.params[k].name;
    auto fi = o.fixed.find(pn);
    m.fixed.push_back(fi == o.fixed.end() ? std::nullopt : std::optional<double>(fi->second));
    auto it = o.formulas.find(pn);
    Formula f = parse_formula(it == o.formulas.end() ? "" : it->second, "--" + pn);
    resolve_formula(f, data.rows, o.refs);
    m.formulas.push_back(f);
    Design d = build_design(f, data.rows, true);
    if (!m.fixed[k]) check_collinear(d, data.source, pn);
    torch::Tensor xo = torch::from_blob(d.x.data(), {d.rows, d.cols}, torch::kFloat64).clone();
    torch::Tensor xs = (xo - to_tensor(d.center)) / to_tensor(d.scale);
    xs.select(1, 0).fill_(1.0);
    pr.xs_std.push_back(xs);
    pr.xs_orig.push_back(xo);
    pr.designs.push_back(std::move(d));
  }
  return pr;
}
}  // namespace

LoglikValue evaluate_loglik(const SurvData& data, const FitOptions& o, const std::vector<double>& theta) {
  Prepared pr = prepare(data, o);
  Objective obj(*pr.m.family, data, pr.xs_orig, pr.m.fixed);
  if (static_cast<int64_t>(theta.size()) != obj.size())
    throw UsageError("expected " + std::to_string(obj.size()) + " coefficients, got " + std::to_string(theta.size()));
  LoglikValue v;
  v.value = obj.derivs(theta, v.grad, v.hess);
  return v;
}

Model Model::from_report(const std::string& path) { return from_json(json_field(read_json(path), "model", path), path); }

FitResult fit_parametric(const SurvData& data, const FitOptions& o) {
  Prepared pr = prepare(data, o);
  Model& m = pr.m;
  const Family& fam = *m.family;
  const size_t K = fam.params.size();
  std::vector<Design>& designs = pr.designs;
  std::vector<torch::Tensor>& xs_std = pr.xs_std;
  std::vector<torch::Tensor>& xs_orig = pr.xs_orig;
  Objective obj(fam, data, xs_std, m.fixed);
  const int64_t P = obj.size();
  if (P == 0) throw UsageError("every parameter is fixed: nothing to fit");

  // Starting points (natural-scale intercepts, covariate coefficients 0).
  double sum_t = 0;
  for (double t : data.time) sum_t += t;
  const double rate = static_cast<double>(data.events()) / sum_t;
  Vec sorted = data.time;
  std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
  const double median_t = sorted[sorted.size() / 2];
  auto start_vec = [&](const std::map<std::string, double>& natural, const std::map<std::string, Vec>& coefs) {
    Vec th(P, 0.0);
    size_t off = 0;
    for (size_t k = 0; k < K; ++k) {
      if (m.fixed[k]) continue;
      const auto& pi = fam.params[k];
      auto c = coefs.find(pi.name);
      if (c != coefs.end() && static_cast<int64_t>(c->second.size()) == designs[k].cols) {
        for (int64_t j = 0; j < designs[k].cols; ++j) th[off + j] = c->second[j];
      } else {
        th[off] = link(pi.link, natural.at(pi.name));
      }
      off += designs[k].cols;
    }
    return th;
  };
  std::vector<std::pair<std::string, Vec>> starts;
  const std::string& fn = fam.name;
  if (fam.location_scale) {
    starts.push_back({"exponential rate", start_vec({{"mu", -std::log(rate)}, {"scale", 1.0}}, {})});
  } else if (fn == "weibull-ph") {
    starts.push_back({"exponential rate", start_vec({{"lambda", rate}, {"gamma", 1.0}}, {})});
  } else if (fn == "gompertz") {
    starts.push_back({"exponential rate", start_vec({{"rate", rate}, {"shape", 0.0}}, {})});
  } else {
    // Nested Weibull (PH) fit with lambda's and gamma's covariates, then kappa values around it.
    FitOptions wo = o;
    wo.family = "weibull-ph";
    wo.formulas.clear();
    wo.fixed.clear();
    for (const char* p : {"lambda", "gamma"})
      if (o.formulas.count(p)) wo.formulas[p] = o.formulas.at(p);
    for (const char* p : {"lambda", "gamma"})
      if (o.fixed.count(p)) wo.fixed[p] = o.fixed.at(p);
    std::map<std::string, Vec> nested;
    double lam_w = rate, gam_w = 1;
    try {
      Objective wobj(find_family("weibull-ph"), data, {xs_std[0], xs_std[2]},
                     {m.fixed[0], m.fixed[2]});
      Vec w0(wobj.size(), 0.0);
      size_t off = 0;
      if (!m.fixed[0]) {
        w0[0] = std::log(rate);
        off = designs[0].cols;
      }
      NewtonResult wr = newton(wobj, w0, o.max_iter, o.tol);
      if (wr.converged) {
        off = 0;
        if (!m.fixed[0]) {
          nested["lambda"] = Vec(wr.theta.begin(), wr.theta.begin() + designs[0].cols);
          lam_w = std::exp(wr.theta[0]);
          off = designs[0].cols;
        }
        if (!m.fixed[2]) {
          nested["gamma"] = Vec(wr.theta.begin() + off, wr.theta.begin() + off + designs[2].cols);
          gam_w = std::exp(wr.theta[off]);
        }
      }
    } catch (const Error&) {
    }
    const double phi0 = m.fixed[1] ? *m.fixed[1] : 1.0 / median_t;
    // At kappa = 1, H = lambda (phi t)^gamma: the Weibull's lambda t^gamma needs lambda / phi^gamma.
    const double lam0 = lam_w / std::pow(phi0, gam_w);
    std::vector<double> kappas = fn == "burr" ? std::vector<double>{0.0}
                                 : fn == "pgw" ? std::vector<double>{1.0, 0.5, 2.0}
                                               : std::vector<double>{1.0, 0.5, 2.0, 0.0, -0.5};
    for (double kap : kappas) {
      std::map<std::string, Vec> c = nested;
      if (c.count("lambda")) c["lambda"][0] = std::log(lam0);
      starts.push_back({"nested Weibull, kappa " + std::to_string(kap).substr(0, 4),
                        start_vec({{"lambda", lam0}, {"phi", phi0}, {"gamma", gam_w}, {"kappa", kap}}, c)});
    }
  }
  NewtonResult best;
  std::string best_start;
  int total_iter = 0;
  for (const auto& [label, th] : starts) {
    NewtonResult r = newton(obj, th, o.max_iter, o.tol);
    total_iter += r.iterations;
    log::debug("start '{}': loglik {} after {} iterations ({})", label, r.value, r.iterations, r.converged ? "converged" : r.message);
    if ((r.converged && (!best.converged || r.value > best.value)) || (!best.converged && r.value > best.value)) {
      best = r;
      best_start = label;
    }
  }

  // Back to the original scale: eta = b0 + sum_j b_j (x_j - c_j)/s_j.
  Vec theta_orig(P);
  {
    size_t off = 0;
    for (size_t k = 0; k < K; ++k) {
      if (m.fixed[k]) continue;
      const Design& d = designs[k];
      double b0 = best.theta[off];
      for (int64_t j = 1; j < d.cols; ++j) {
        theta_orig[off + j] = best.theta[off + j] / d.scale[j];
        b0 -= best.theta[off + j] * d.center[j] / d.scale[j];
      }
      theta_orig[off] = b0;
      m.coef.push_back(Vec(theta_orig.begin() + off, theta_orig.begin() + off + d.cols));
      off += d.cols;
    }
  }
  // Observed information on the original scale.
  Vec g, h, cov;
  Objective orig(fam, data, xs_orig, m.fixed);
  orig.derivs(theta_orig, g, h);
  for (double& x : h) x = -x;
  cov = spd_inverse(h, P);
  if (cov.empty() && best.converged) log::warn("the information matrix is not positive definite at the optimum: no standard errors (is a parameter not identifiable? e.g. lambda and phi when kappa = 1)");

  const double z = normal_quantile(0.5 + o.conf / 2);
  nlohmann::json params = nlohmann::json::array();
  size_t off = 0;
  for (size_t k = 0; k < K; ++k) {
    const auto& pi = fam.params[k];
    nlohmann::json p = {{"name", pi.name}, {"link", link_name(pi.link)}, {"meaning", pi.meaning}, {"formula", m.formulas[k].text}};
    if (m.fixed[k]) {
      p["fixed"] = *m.fixed[k];
    } else {
      nlohmann::json rows = nlohmann::json::array();
      for (int64_t j = 0; j < designs[k].cols; ++j) {
        const double est = theta_orig[off + j];
        const double se = cov.empty() ? NAN : std::sqrt(cov[(off + j) * P + off + j]);
        rows.push_back({{"term", designs[k].names[j]}, {"estimate", est}, {"se", se}, {"z", est / se}, {"p", two_sided_p(est / se)},
                        {"lower", est - z * se}, {"upper", est + z * se}});
      }
      p["coefficients"] = rows;
      if (designs[k].cols == 1) {
        const double est = theta_orig[off], se = cov.empty() ? NAN : std::sqrt(cov[off * P + off]);
        p["value"] = {{"estimate", link_inverse(pi.link, est)}, {"lower", link_inverse(pi.link, est - z * se)},
                      {"upper", link_inverse(pi.link, est + z * se)}};
      }
      off += designs[k].cols;
    }
    params.push_back(p);
  }
  const double n = static_cast<double>(data.n());
  FitResult res;
  res.model = m;
  res.converged = best.converged;
  res.message = best.converged ? "converged" : best.message;
  res.loglik = best.value;
  res.aic = -2 * best.value + 2.0 * P;
  res.df = static_cast<int>(P);
  res.iterations = best.iterations;
  std::vector<std::string> coef_names;
  for (size_t k = 0; k < K; ++k)
    if (!m.fixed[k])
      for (const auto& nm : designs[k].names) coef_names.push_back(fam.params[k].name + ":" + nm);
  nlohmann::json vc = nlohmann::json::array();
  for (int64_t i = 0; i < P && !cov.empty(); ++i) vc.push_back(Vec(cov.begin() + i * P, cov.begin() + (i + 1) * P));
  res.report = {{"family", fam.name},
                {"description", fam.description},
                {"n", data.n()},
                {"events", data.events()},
                {"dropped_na", data.dropped},
                {"left_truncated", !data.entry.empty()},
                {"loglik", best.value},
                {"df", P},
                {"aic", res.aic},
                {"bic", -2 * best.value + std::log(n) * P},
                {"converged", best.converged},
                {"message", res.message},
                {"iterations", best.iterations},
                {"iterations_all_starts", total_iter},
                {"start", best_start},
                {"damped_steps", best.damped},
                {"conf_level", o.conf},
                {"parameters", params},
                {"coef_names", coef_names},
                {"vcov", vc},
                {"model", m.to_json()}};
  {
    // Harrell's concordance of the predicted median survival (shorter predicted median = higher risk).
    auto pr = m.params(data.rows);
    std::vector<double> risk(data.n());
    for (size_t i = 0; i < data.n(); ++i) {
      const double med = inverse_cumhaz(fam, std::log(2.0), pr[i]);
      risk[i] = std::isfinite(med) ? -std::log(med) : -INFINITY;
    }
    Concordance cc = concordance(data.time, data.event, risk);
    res.report["concordance"] = {{"c", cc.c()}, {"concordant", cc.concordant}, {"discordant", cc.discordant}, {"tied_risk", cc.tied_risk},
                                 {"risk_score", "-log(predicted median)"}};
  }
  if (fam.location_scale) {
    // survreg's presentation: coefficients of log T's location, and the scale.
    nlohmann::json s = {{"coefficients", params[0]["coefficients"]}};
    if (fam.name != "exponential" && params[1].contains("value")) s["scale"] = params[1]["value"]["estimate"];
    if (fam.name == "exponential") s["scale"] = 1.0;
    res.report["survreg"] = s;
  }
  if (fam.name == "apgw" && !m.fixed[0] && !m.fixed[3]) {
    // Cure fraction at the covariate means (the standardised intercepts): exp(-lambda (kappa+1)/-kappa).
    size_t o_lam = 0, o_kap = 0, acc = 0;
    for (size_t k = 0; k < K; ++k) {
      if (m.fixed[k]) continue;
      if (k == 0) o_lam = acc;
      if (k == 3) o_kap = acc;
      acc += designs[k].cols;
    }
    const double kap = std::expm1(best.theta[o_kap]);
    // Only a defective fit needs the information on the standardised scale (the intercepts there are
    // the covariate means).
    Vec cov_std;
    if (kap < 0) {
      Vec gs, hs;
      obj.derivs(best.theta, gs, hs);
      for (double& x : hs) x = -x;
      cov_std = spd_inverse(hs, P);
    }
    if (kap < 0 && !cov_std.empty()) {
      const double g0 = best.theta[o_lam] + std::log1p(kap) - std::log(-kap);  // log H(inf)
      const double dk = 1 / -kap;
      const double var = cov_std[o_lam * P + o_lam] + 2 * dk * cov_std[o_lam * P + o_kap] + dk * dk * cov_std[o_kap * P + o_kap];
      const double se = std::sqrt(var);
      res.report["cure_fraction"] = {{"estimate", std::exp(-std::exp(g0))},
                                     {"lower", std::exp(-std::exp(g0 + z * se))},
                                     {"upper", std::exp(-std::exp(g0 - z * se))},
                                     {"at", "covariate means"}};
    }
  }
  return res;
}

LikelihoodRatio likelihood_ratio(const nlohmann::json& full, const nlohmann::json& nested) {
  const double lf = full.at("loglik").get<double>(), ln = nested.at("loglik").get<double>();
  const int df = full.at("df").get<int>() - nested.at("df").get<int>();
  if (df <= 0) throw UsageError("the full model must have more free parameters than the nested one (" + std::to_string(df) + ")");
  const double stat = std::max(0.0, 2 * (lf - ln));
  return {stat, df, chi2_sf(stat, df), lf, ln};
}

void to_json(nlohmann::json& j, const LikelihoodRatio& r) {
  j = {{"statistic", r.statistic}, {"df", r.df}, {"p", r.p}, {"loglik_full", r.loglik_full}, {"loglik_nested", r.loglik_nested}};
}

}  // namespace paramkit::survival
