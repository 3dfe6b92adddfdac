#include "paramkit/survival/fit.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
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
    for (size_t j = 0; j < free.size(); ++j) {
      check_stop();  // each backward pass is a pass over the data
      W.push_back(torch::autograd::grad({G.select(1, static_cast<int64_t>(j)).sum()}, {E}, {}, true, false)[0].detach());
    }
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
  // On the internal scale (standardised covariates, times in units of their median) a parameter of a
  // sensible fit moves by a few units; a longer Newton step is shortened rather than tried whole.
  no.max_step = 20;
  // A log-likelihood that has stopped changing while a coefficient still moves is an infinite estimate
  // (a factor level without events): stop and report it instead of running to max_iter.
  no.plateau_iter = 3;
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
      if ((r & 0xFFFF) == 0) check_stop();
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
        const size_t want = 1 + m.formulas.back().names().size();
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
    Formula f = parse_formula(it == o.formulas.end() ? "" : it->second, o.formula_flag(pn));
    if (!f.strata.empty())
      throw UsageError(o.formula_flag(pn) + ": strata() is for Cox models (survfit cox); a parametric fit takes the column as a covariate, e.g. factor(" +
                       f.strata[0] + ")");
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

namespace {
// Fits run on times in units of their median, t / c, so that every parameter is of order one whatever
// the unit of the data (days, seconds, or 1e200): the Newton steps, the starts and the boundary tests
// below are then unit-free. The model in units of t is recovered exactly for the structures below: the
// location of log T shifts by log c, phi and the Gompertz rate scale by 1/c, the Gompertz shape by
// 1/c, and the Weibull-PH lambda by c^-gamma (exact only while gamma is one number).
struct TimeUnit {
  double c = 1;
  bool on = false;
};

TimeUnit time_unit(const Family& fam, const Prepared& pr, const SurvData& data) {
  TimeUnit u;
  const std::string& n = fam.name;
  bool exact = fam.location_scale || n == "gompertz" || n == "burr" || n == "pgw" || n == "apgw";
  if (n == "weibull-ph") {
    const bool gamma_one = pr.m.fixed[1] || pr.designs[1].cols == 1;
    exact = gamma_one && (!pr.m.fixed[0] || pr.m.fixed[1]);
  }
  if (!exact) return u;
  Vec sorted = data.time;
  std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
  const double median = sorted[sorted.size() / 2];
  if (median > 0 && std::isfinite(median)) {
    u.c = median;
    u.on = true;
  }
  return u;
}

// A fixed parameter value (natural scale) in the internal time unit.
double fixed_in_unit(const Family& fam, size_t k, double v, const TimeUnit& u, const std::vector<std::optional<double>>& fixed) {
  if (!u.on) return v;
  const std::string& p = fam.params[k].name;
  if (p == "mu") return v - std::log(u.c);
  if (p == "phi" || p == "rate" || (p == "shape" && fam.name == "gompertz")) return v * u.c;
  if (p == "lambda" && fam.name == "weibull-ph") return v * std::pow(u.c, *fixed[1]);
  return v;
}

// Where each coefficient of the stacked vector is: parameter index and design column.
struct Slot {
  size_t param;
  int64_t col;
};

std::string fmt_short(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

// Where a parameter on its link scale is running to: "0", "infinity", "-1", "-infinity".
std::string limit_of(Link l, double eta_direction) {
  if (l == Link::identity) return eta_direction > 0 ? "infinity" : "-infinity";
  if (l == Link::log1p_shift) return eta_direction > 0 ? "infinity" : "-1";
  return eta_direction > 0 ? "infinity" : "0";
}

// Levels of the categorical terms of free parameters that have no events: "level 'z' of 'grp'", per
// design column name (the dummy of the level; "(Intercept)" for the reference level).
std::map<std::string, std::string> levels_without_events(const Formula& f, const SurvData& data) {
  std::map<std::string, std::string> out;
  for (const auto& t : f.terms) {
    if (!t.categorical) continue;
    const Column& c = data.rows.col(t.column);
    std::map<std::string, size_t> events;
    for (const auto& l : t.levels) events[l] = 0;
    for (size_t i = 0; i < data.n(); ++i) {
      char buf[32];
      std::string v = c.strings.empty() ? (std::snprintf(buf, sizeof buf, "%.15g", c.values[i]), std::string(buf)) : c.strings[i];
      if (data.event[i]) ++events[v];
    }
    const std::string prefix = t.factor_syntax ? "factor(" + t.column + ")" : t.column;
    for (const auto& [l, n] : events)
      if (n == 0) out[l == t.ref ? "(Intercept)" : prefix + l] = "level '" + l + "' of '" + t.column + "' has no events";
  }
  return out;
}
}  // namespace

FitResult fit_parametric(const SurvData& data, const FitOptions& o) {
  Prepared pr = prepare(data, o);
  Model& m = pr.m;
  const Family& fam = *m.family;
  const size_t K = fam.params.size();
  std::vector<Design>& designs = pr.designs;
  std::vector<torch::Tensor>& xs_std = pr.xs_std;
  std::vector<torch::Tensor>& xs_orig = pr.xs_orig;

  // The internal problem: times in units of c, fixed values converted to that unit.
  const TimeUnit unit = time_unit(fam, pr, data);
  SurvData scaled;
  scaled.source = data.source;
  scaled.event = data.event;
  scaled.time = data.time;
  scaled.entry = data.entry;
  for (double& t : scaled.time) t /= unit.c;
  for (double& t : scaled.entry) t /= unit.c;
  std::vector<std::optional<double>> fixed_s = m.fixed;
  for (size_t k = 0; k < K; ++k)
    if (m.fixed[k]) fixed_s[k] = fixed_in_unit(fam, k, *m.fixed[k], unit, m.fixed);
  log::debug("internal time unit {} ({})", unit.c, unit.on ? "times divided by their median" : "the data's own");
  Objective obj(fam, scaled, xs_std, fixed_s);
  const int64_t P = obj.size();
  if (P == 0) throw UsageError("every parameter is fixed: nothing to fit");
  std::vector<Slot> slots;
  for (size_t k = 0; k < K; ++k)
    if (!m.fixed[k])
      for (int64_t j = 0; j < designs[k].cols; ++j) slots.push_back({k, j});
  auto slot_name = [&](size_t i) { return fam.params[slots[i].param].name + ":" + designs[slots[i].param].names[slots[i].col]; };

  // Every start on data sd (designs xs, objective ob): the best end, its start, the iterations of all.
  struct Starts {
    NewtonResult best;
    std::string label;
    int iterations = 0;
  };
  auto multi_start = [&](const SurvData& sd, const std::vector<torch::Tensor>& xs, Objective& ob) {
    // Starting points (natural-scale intercepts, covariate coefficients 0).
    double sum_t = 0;
    for (double t : sd.time) sum_t += t;
    const double rate = static_cast<double>(sd.events()) / sum_t;
    Vec sorted = sd.time;
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
      std::map<std::string, Vec> nested;
      double lam_w = rate, gam_w = 1;
      try {
        Objective wobj(find_family("weibull-ph"), sd, {xs[0], xs[2]}, {fixed_s[0], fixed_s[2]});
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
      } catch (const Interrupted&) {
        throw;
      } catch (const Error&) {
      }
      const double phi0 = fixed_s[1] ? *fixed_s[1] : 1.0 / median_t;
      // At kappa = 1, H = lambda (phi t)^gamma: the Weibull's lambda t^gamma needs lambda / phi^gamma.
      const double lam0 = std::exp(std::log(lam_w) - gam_w * std::log(phi0));
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
    // Ranks the ends of the starts: converged, then stopped on a plateau (an infinite estimate), then the
    // rest; the larger log-likelihood within a rank.
    auto rank = [](const NewtonResult& r) { return r.converged ? 2 : r.plateau ? 1 : 0; };
    Starts out;
    for (const auto& [label, th] : starts) {
      NewtonResult r = newton(ob, th, o.max_iter, o.tol);
      out.iterations += r.iterations;
      log::debug("start '{}' on {} rows: loglik {} after {} iterations ({})", label, sd.n(), r.value, r.iterations,
                 r.converged ? "converged" : r.message);
      if (out.label.empty() || rank(r) > rank(out.best) || (rank(r) == rank(out.best) && r.value > out.best.value)) {
        out.best = r;
        out.label = label;
      }
    }
    return out;
  };

  // Large data: the starts run on a systematic subsample (every k-th row), and one Newton run on all
  // rows finishes from the best of them: a few passes over the data instead of one per iteration of
  // every start. Where that run does not converge, every start runs on all rows as for small data.
  NewtonResult best;
  std::string best_start;
  int total_iter = 0;
  bool done = false;
  const size_t sub_rows = std::max(o.subsample_rows, static_cast<size_t>(o.subsample_fraction * static_cast<double>(data.n())));
  if (o.subsample_from > 0 && data.n() > o.subsample_from && sub_rows > 0 && sub_rows < data.n()) {
    const size_t stride = (data.n() + sub_rows - 1) / sub_rows;
    std::vector<int64_t> idx;
    SurvData sub;
    for (size_t i = 0; i < data.n(); i += stride) {
      idx.push_back(static_cast<int64_t>(i));
      sub.time.push_back(scaled.time[i]);
      sub.event.push_back(scaled.event[i]);
      if (!scaled.entry.empty()) sub.entry.push_back(scaled.entry[i]);
    }
    if (sub.events() > 0) {
      torch::Tensor rows = torch::tensor(idx, torch::kInt64);
      std::vector<torch::Tensor> xs_sub;
      for (const auto& x : xs_std) xs_sub.push_back(x.index_select(0, rows));
      Objective sub_obj(fam, sub, xs_sub, fixed_s);
      Starts st = multi_start(sub, xs_sub, sub_obj);
      if (st.best.converged || st.best.plateau) {
        NewtonResult r = newton(obj, st.best.theta, o.max_iter, o.tol);
        log::debug("all {} rows from the subsample's best start: loglik {} after {} iterations ({})", data.n(), r.value, r.iterations,
                   r.converged ? "converged" : r.message);
        total_iter = st.iterations + r.iterations;
        if (r.converged || r.plateau) {
          best = r;
          best_start = st.label + " (on a subsample of " + std::to_string(sub.n()) + " rows, then all rows)";
          done = true;
        }
      }
    }
  }
  if (!done) {
    Starts st = multi_start(scaled, xs_std, obj);
    best = st.best;
    best_start = st.label;
    total_iter += st.iterations;
  }

  // Estimates that may be infinite: where the log-likelihood converged while coefficients kept moving,
  // R's test on the step that remains (coxph's "coefficient may be infinite").
  std::vector<bool> infinite(P, false);
  Vec g_s, h_s;
  auto flag_infinite = [&] {
    obj.derivs(best.theta, g_s, h_s);
    Vec info(h_s.size());
    for (size_t i = 0; i < h_s.size(); ++i) info[i] = -h_s[i];
    infinite = numeric::may_be_infinite(best.theta, g_s, info, 1e-6);
    if (std::none_of(infinite.begin(), infinite.end(), [](bool b) { return b; }) && !best.last_step.empty())
      for (int64_t i = 0; i < P; ++i) infinite[i] = std::fabs(best.last_step[i]) > 1e-3 * (1 + std::fabs(best.theta[i]));
  };
  if (best.plateau) {
    flag_infinite();
    if (std::none_of(infinite.begin(), infinite.end(), [](bool b) { return b; })) {
      // A flat direction, not an infinite one: carry on from there as an ordinary fit.
      const int used = best.iterations;
      numeric::NewtonOptions no;
      no.max_iter = std::max(1, o.max_iter - used);
      no.tol = o.tol;
      no.max_step = 20;
      NewtonResult more = numeric::maximize([&](const Vec& t) { return obj.value(t); },
                                            [&](const Vec& t, Vec& g, Vec& h) { return obj.derivs(t, g, h); }, best.theta, no);
      total_iter += more.iterations;
      more.iterations += used;
      best = more;
    }
  }
  const bool usable = best.converged || best.plateau;

  // A distribution parameter (one without covariates) at the edge of its range is a degenerate fit:
  // the likelihood has no maximum there (a scale running to 0 where the events share one time) or
  // only a limiting one. Not an estimate: the fit fails naming it.
  auto describe_run = [&](size_t i) {
    const size_t k = slots[i].param;
    const ParamInfo& pi = fam.params[k];
    if (slots[i].col == 0 && designs[k].cols == 1) {
      // Natural value in the data's time unit.
      double eta = best.theta[i];
      double nat = link_inverse(pi.link, eta);
      if (unit.on) {
        if (pi.name == "mu") nat += std::log(unit.c);
        else if (pi.name == "phi" || pi.name == "rate" || (pi.name == "shape" && fam.name == "gompertz")) nat /= unit.c;
      }
      const double dir = std::fabs(eta) > 5 || best.last_step.empty() ? eta : best.last_step[i];
      return pi.name + " runs to " + limit_of(pi.link, dir) + " (" + fmt_short(nat) + " at the last iterate)";
    }
    const double dir = std::fabs(best.theta[i]) > 5 || best.last_step.empty() ? best.theta[i] : best.last_step[i];
    return "coefficient " + slot_name(i) + " runs to " + (dir > 0 ? "+infinity" : "-infinity");
  };
  std::string data_hint;
  {
    std::vector<double> ev;
    for (size_t i = 0; i < data.n(); ++i)
      if (data.event[i]) ev.push_back(data.time[i]);
    std::sort(ev.begin(), ev.end());
    ev.erase(std::unique(ev.begin(), ev.end()), ev.end());
    if (ev.size() == 1)
      data_hint = std::string("; ") + (data.events() == 1 ? "the data have one event" : "every event is at the same time") +
                  " (t = " + fmt_short(ev[0]) + "): a distribution with a shape can put unbounded density there";
  }
  std::string failure;
  if (!usable) {
    // Which coordinate was running: the largest component of the last step.
    // Which coordinate was running: the one farthest out on the internal scale when one is far out
    // (|eta| > 15: a factor e^15 from the data's scale), else the largest component of the last step.
    size_t run = 0;
    for (int64_t i = 1; i < P; ++i)
      if (std::fabs(best.theta[i]) > std::fabs(best.theta[run])) run = i;
    const bool far = std::fabs(best.theta[run]) > 15;
    if (!far && !best.last_step.empty())
      for (size_t i = 0; i < best.last_step.size(); ++i)
        if (std::fabs(best.last_step[i]) > std::fabs(best.last_step[run])) run = i;
    const std::string growth = "the log-likelihood grows without bound (to " + fmt_short(best.value) + " from " + fmt_short(best.start_value) + ")";
    if (best.nonfinite)
      failure = "has no maximum: " + growth + " as " + describe_run(run) + data_hint;
    else if (far && !best.last_step.empty())
      failure = "did not converge (" + best.message + "): " + growth + " as " + describe_run(run) + data_hint;
    else
      failure = "did not converge (" + best.message + ")" + data_hint;
  } else if (unit.on) {
    // A converged fit whose distribution parameter sits far out on the internal scale (e^25: a scale
    // of 1e-11 in units of the median time) is at the edge of the family too.
    for (int64_t i = 0; i < P; ++i)
      if (designs[slots[i].param].cols == 1 && std::fabs(best.theta[i]) > 25) infinite[i] = true;
  }

  // Back to the original scale: eta = b0 + sum_j b_j (x_j - c_j)/s_j; then to the data's time unit.
  Vec theta_orig(P), theta_os(P), T(P * P, 0.0);
  for (int64_t i = 0; i < P; ++i) T[i * P + i] = 1;
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
      off += d.cols;
    }
    theta_os = theta_orig;
    if (unit.on) {
      // theta_orig = U(theta_os), with its Jacobian T for the covariance.
      const double lc = std::log(unit.c);
      off = 0;
      size_t gamma_off = 0;
      for (size_t k = 0, acc = 0; k < K; ++k) {
        if (m.fixed[k]) continue;
        if (fam.params[k].name == "gamma") gamma_off = acc;
        acc += designs[k].cols;
      }
      for (size_t k = 0; k < K; ++k) {
        if (m.fixed[k]) continue;
        const std::string& pn = fam.params[k].name;
        if (pn == "mu") {
          theta_orig[off] += lc;
        } else if (pn == "phi" || pn == "rate") {
          theta_orig[off] -= lc;
        } else if (pn == "shape" && fam.name == "gompertz") {
          for (int64_t j = 0; j < designs[k].cols; ++j) {
            theta_orig[off + j] /= unit.c;
            T[(off + j) * P + off + j] = 1 / unit.c;
          }
        } else if (pn == "lambda" && fam.name == "weibull-ph") {
          // log lambda = log lambda' - gamma log c; gamma is one number here (time_unit).
          const double gam = m.fixed[1] ? *m.fixed[1] : std::exp(theta_os[gamma_off]);
          theta_orig[off] -= gam * lc;
          if (!m.fixed[1]) T[off * P + gamma_off] = -gam * lc;
        }
        off += designs[k].cols;
      }
    }
    off = 0;
    for (size_t k = 0; k < K; ++k) {
      if (m.fixed[k]) continue;
      m.coef.push_back(Vec(theta_orig.begin() + off, theta_orig.begin() + off + designs[k].cols));
      off += designs[k].cols;
    }
  }
  // Observed information with covariates on their original scale, in the internal time unit (where it
  // is well conditioned whatever the data's unit), carried to the data's unit by T; the log-likelihood
  // in the data's unit differs by -log c per event (each density is divided by c).
  Vec g, h, cov;
  double loglik = best.value;
  if (usable) {
    Objective orig(fam, scaled, xs_orig, fixed_s);
    loglik = orig.derivs(theta_os, g, h) - static_cast<double>(data.events()) * std::log(unit.c);
    for (double& x : h) x = -x;
    Vec cov_s = spd_inverse(h, P);
    if (!cov_s.empty()) {
      cov.assign(P * P, 0.0);
      for (int64_t a = 0; a < P; ++a)
        for (int64_t b = 0; b < P; ++b) {
          double acc = 0;
          for (int64_t i = 0; i < P; ++i)
            for (int64_t j = 0; j < P; ++j) acc += T[a * P + i] * cov_s[i * P + j] * T[b * P + j];
          cov[a * P + b] = acc;
        }
    }
  }
  if (cov.empty() && usable && std::none_of(infinite.begin(), infinite.end(), [](bool b) { return b; }))
    log::warn("the information matrix is not positive definite at the optimum: no standard errors (is a parameter not identifiable? e.g. lambda and phi when kappa = 1)");

  // Infinite estimates: the likelihood is bounded (it converged) but has its supremum at infinity.
  // The fit stands, flagged (degenerate) with a warning: covariate coefficients one by one (a factor
  // level without events, a separating covariate), distribution parameters together (the fit is a
  // limiting case of the family, e.g. an APGW with kappa -> -1 and lambda -> infinity, whose
  // log-likelihood, curves and cure fraction are the limit's).
  std::vector<std::string> warnings;
  bool degenerate = false;
  {
    std::map<std::string, std::string> hints;
    for (size_t k = 0; k < K; ++k)
      if (!m.fixed[k])
        for (auto& [col, why] : levels_without_events(m.formulas[k], data)) hints[fam.params[k].name + ":" + col] = why;
    std::string edges;
    for (int64_t i = 0; i < P; ++i) {
      if (!infinite[i]) continue;
      degenerate = true;
      if (designs[slots[i].param].cols == 1) {
        edges += (edges.empty() ? "" : ", ") + describe_run(static_cast<size_t>(i));
        continue;
      }
      auto hint = hints.find(slot_name(i));
      warnings.push_back("coefficient " + slot_name(i) + " may be infinite (the log-likelihood converged while it kept growing" +
                         (hint == hints.end() ? "" : "; " + hint->second) + "): its estimate and standard error are not meaningful");
    }
    if (!edges.empty())
      warnings.push_back("the fit is at the edge of the " + fam.name + " family: " + edges +
                         " (the log-likelihood converged while they kept moving): these estimates are not finite; the log-likelihood and "
                         "the fitted curves are those of the limiting model" + data_hint);
    for (const auto& w : warnings) log::warn("{}", w);
  }

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
                        {"lower", est - z * se}, {"upper", est + z * se}, {"infinite", static_cast<bool>(infinite[off + j])}});
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
  res.converged = usable && failure.empty();
  res.message = !failure.empty() ? failure : degenerate ? "converged (the log-likelihood); some estimates are infinite (see warnings)" : "converged";
  res.loglik = loglik;
  res.aic = -2 * loglik + 2.0 * P;
  res.df = static_cast<int>(P);
  res.iterations = best.iterations;
  res.warnings = warnings;
  res.degenerate = degenerate;
  if (!res.converged) return res;  // nothing to report: the caller says why (res.message)
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
                {"loglik", loglik},
                {"df", P},
                {"aic", res.aic},
                {"bic", -2 * loglik + std::log(n) * P},
                {"converged", true},
                {"message", res.message},
                {"iterations", best.iterations},
                {"iterations_all_starts", total_iter},
                {"start", best_start},
                {"damped_steps", best.damped},
                {"degenerate", degenerate},
                {"warnings", warnings},
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
      if ((i & 0xFFFF) == 0) check_stop();
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
    // lambda and kappa do not depend on the time unit.
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
