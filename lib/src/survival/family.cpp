#include "paramkit/survival/family.h"

#include <algorithm>
#include <cmath>

#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"
#include "paramkit/survival/stats.h"

namespace paramkit::survival {

const std::vector<Family>& families() {
  static const std::vector<Family> f = {
      {"exponential", "survreg exponential: log T = mu + W (W extreme value), h = exp(-mu)", {{"mu", Link::identity, "location of log T"}}, true},
      {"weibull", "survreg Weibull (AFT): log T = mu + scale W, W extreme value",
       {{"mu", Link::identity, "location of log T"}, {"scale", Link::log, "scale of log T (1/shape)"}}, true},
      {"loglogistic", "survreg log-logistic: log T = mu + scale W, W logistic",
       {{"mu", Link::identity, "location of log T"}, {"scale", Link::log, "scale of log T"}}, true},
      {"lognormal", "survreg log-normal: log T = mu + scale W, W standard normal",
       {{"mu", Link::identity, "location of log T"}, {"scale", Link::log, "scale of log T"}}, true},
      {"weibull-ph", "Weibull, proportional-hazards form: H = lambda t^gamma",
       {{"lambda", Link::log, "hazard scale (PH)"}, {"gamma", Link::log, "shape"}}},
      {"gompertz", "Gompertz (flexsurv's form): h = rate exp(shape t)",
       {{"rate", Link::log, "hazard at t = 0 (PH)"}, {"shape", Link::identity, "log-hazard slope in t"}}},
      {"burr", "Burr XII, APGW with kappa = 0: H = lambda log(1 + (phi t)^gamma); lambda = 1 is log-logistic",
       {{"lambda", Link::log, "hazard scale (PH)"}, {"phi", Link::log, "time scale (AFT)"}, {"gamma", Link::log, "power shape"}}},
      {"pgw", "power generalised Weibull: H = lambda {[1 + (phi t)^gamma]^kappa - 1}, kappa > 0",
       {{"lambda", Link::log, "hazard scale (PH)"}, {"phi", Link::log, "time scale (AFT)"}, {"gamma", Link::log, "power shape"},
        {"kappa", Link::log, "second shape"}}},
      {"apgw", "adapted power generalised Weibull: H = lambda (kappa+1)/kappa {[1 + (phi t)^gamma/(kappa+1)]^kappa - 1}, "
               "kappa > -1 (kappa < 0: cure fraction)",
       {{"lambda", Link::log, "hazard scale (PH)"}, {"phi", Link::log, "time scale (AFT)"}, {"gamma", Link::log, "power shape"},
        {"kappa", Link::log1p_shift, "second shape: 1 Weibull, 0 Burr XII, <0 defective"}}},
  };
  return f;
}

const Family& find_family(const std::string& name) {
  std::string all;
  for (const auto& f : families()) {
    if (f.name == name) return f;
    all += (all.empty() ? "" : ", ") + f.name;
  }
  throw UsageError("unknown family '" + name + "' (families: " + all + ")");
}

double link_inverse(Link l, double eta) {
  switch (l) {
    case Link::identity: return eta;
    case Link::log: return std::exp(eta);
    case Link::log1p_shift: return std::expm1(eta);
  }
  return NAN;
}
double link(Link l, double v) {
  switch (l) {
    case Link::identity: return v;
    case Link::log: return std::log(v);
    case Link::log1p_shift: return std::log1p(v);
  }
  return NAN;
}
torch::Tensor link_inverse(Link l, const torch::Tensor& eta) {
  switch (l) {
    case Link::identity: return eta;
    case Link::log: return eta.exp();
    case Link::log1p_shift: return eta.expm1();
  }
  return eta;
}
const char* link_name(Link l) { return l == Link::identity ? "identity" : l == Link::log ? "log" : "log(1 + .)"; }

namespace {
// (e^{k v} - 1) / k, continuous at k = 0 (value v).
torch::Tensor expm1_over(const torch::Tensor& k, const torch::Tensor& v) {
  torch::Tensor small = k.abs() < 1e-8;
  torch::Tensor safe_k = torch::where(small, torch::ones_like(k), k);
  return torch::where(small, v * (1 + 0.5 * k * v), torch::expm1(safe_k * v) / safe_k);
}
}  // namespace

HazardTerms hazard_terms(const Family& f, const torch::Tensor& t, const std::vector<torch::Tensor>& p) {
  const std::string& n = f.name;
  torch::Tensor lt = t.log();
  if (f.location_scale) {
    torch::Tensor mu = p[0];
    torch::Tensor sigma = n == "exponential" ? torch::ones_like(mu) : p[1];
    torch::Tensor z = (lt - mu) / sigma, ls = sigma.log();
    if (n == "exponential" || n == "weibull") return {z - ls - lt, z.exp()};
    if (n == "loglogistic") {
      torch::Tensor sp = torch::nn::functional::softplus(z);
      return {z - sp - ls - lt, sp};
    }
    // lognormal: log S = log(1 - Phi(z)) = log_ndtr(-z), log f = log phi(z) - log sigma - log t.
    torch::Tensor log_s = torch::special::log_ndtr(-z);
    torch::Tensor log_f = -0.5 * z * z - 0.5 * std::log(2 * M_PI) - ls - lt;
    return {log_f - log_s, -log_s};
  }
  if (n == "weibull-ph") {
    torch::Tensor lam = p[0], g = p[1];
    torch::Tensor ll = lam.log();  // H = exp(log lambda + gamma log t): no overflow of t^gamma alone
    return {ll + g.log() + (g - 1) * lt, (ll + g * lt).exp()};
  }
  if (n == "gompertz") {
    torch::Tensor rate = p[0], shape = p[1];
    return {rate.log() + shape * t, rate * expm1_over(shape, t)};
  }
  torch::Tensor lam = p[0], phi = p[1], g = p[2];
  torch::Tensor lu = g * (phi.log() + lt);  // log (phi t)^gamma
  torch::Tensor base = lam.log() + g.log() + g * phi.log() + (g - 1) * lt;
  if (n == "burr") {
    torch::Tensor l1 = torch::nn::functional::softplus(lu);  // log(1 + u)
    return {base - l1, lam * l1};
  }
  torch::Tensor k = p[3];
  if (n == "pgw") {
    torch::Tensor l1 = torch::nn::functional::softplus(lu);
    return {base + k.log() + (k - 1) * l1, lam * torch::expm1(k * l1)};
  }
  // apgw: v = log(1 + u / (kappa + 1)).
  torch::Tensor v = torch::nn::functional::softplus(lu - (k + 1).log());
  return {base + (k - 1) * v, lam * (k + 1) * expm1_over(k, v)};
}

double cumhaz(const Family& f, double t, const std::vector<double>& p) {
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> pt;
  for (double v : p) pt.push_back(torch::tensor({v}, torch::kFloat64));
  return hazard_terms(f, torch::tensor({t}, torch::kFloat64), pt).H.item<double>();
}

double hazard(const Family& f, double t, const std::vector<double>& p) {
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> pt;
  for (double v : p) pt.push_back(torch::tensor({v}, torch::kFloat64));
  return hazard_terms(f, torch::tensor({t}, torch::kFloat64), pt).log_h.exp().item<double>();
}

void cumhaz_rows(const Family& f, double t, const std::vector<std::vector<double>>& params, std::vector<double>* H,
                 std::vector<double>* h) {
  torch::NoGradGuard ng;
  const size_t n = params.size(), K = f.params.size();
  if (H) H->assign(n, 0.0);
  if (h) h->assign(n, 0.0);
  const size_t chunk = 65536;
  for (size_t b = 0; b < n; b += chunk) {
    check_stop();
    const size_t e = std::min(n, b + chunk);
    std::vector<torch::Tensor> pt;
    for (size_t k = 0; k < K; ++k) {
      std::vector<double> col(e - b);
      for (size_t r = b; r < e; ++r) col[r - b] = params[r][k];
      pt.push_back(torch::tensor(col, torch::kFloat64));
    }
    HazardTerms ht = hazard_terms(f, torch::full({static_cast<int64_t>(e - b)}, t, torch::kFloat64), pt);
    if (H) {
      torch::Tensor c = ht.H.contiguous();
      std::copy(c.data_ptr<double>(), c.data_ptr<double>() + (e - b), H->begin() + static_cast<std::ptrdiff_t>(b));
    }
    if (h) {
      torch::Tensor c = ht.log_h.exp().contiguous();
      std::copy(c.data_ptr<double>(), c.data_ptr<double>() + (e - b), h->begin() + static_cast<std::ptrdiff_t>(b));
    }
  }
}

double cumhaz_limit(const Family& f, const std::vector<double>& p) {
  if (f.name == "apgw" && p[3] < 0) return p[0] * (p[3] + 1) / -p[3];
  if (f.name == "gompertz" && p[1] < 0) return p[0] / -p[1];
  return INFINITY;
}

double inverse_cumhaz(const Family& f, double y, const std::vector<double>& p) {
  if (y <= 0) return 0;
  if (y >= cumhaz_limit(f, p)) return INFINITY;
  const std::string& n = f.name;
  if (n == "exponential") return std::exp(p[0]) * y;
  if (n == "weibull") return std::exp(p[0]) * std::pow(y, p[1]);
  if (n == "loglogistic") return std::exp(p[0]) * std::pow(std::expm1(y), p[1]);
  if (n == "lognormal") return std::exp(p[0] + p[1] * normal_quantile(-std::expm1(-y)));
  if (n == "weibull-ph") return std::pow(y / p[0], 1 / p[1]);
  if (n == "gompertz") return std::fabs(p[1]) < 1e-12 ? y / p[0] : std::log1p(p[1] * y / p[0]) / p[1];
  const double lam = p[0], phi = p[1], g = p[2];
  double u;  // (phi t)^gamma
  if (n == "burr") {
    u = std::expm1(y / lam);
  } else if (n == "pgw") {
    u = std::expm1(std::log1p(y / lam) / p[3]);
  } else {  // apgw: the closed form of the paper's simulation formula
    const double k = p[3];
    double w = k * y / (lam * (k + 1));  // 1 + w = [1 + u/(k+1)]^k
    double v = std::fabs(k) < 1e-12 ? y / (lam * (k + 1)) : std::log1p(w) / k;
    u = (k + 1) * std::expm1(v);
  }
  return std::pow(u, 1 / g) / phi;
}

}  // namespace paramkit::survival
