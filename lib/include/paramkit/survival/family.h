// Parametric survival families as functions of their distribution parameters, each with a link:
// the survreg location-scale families (exponential, weibull, loglogistic, lognormal: log T = mu +
// sigma W), the proportional-hazards Weibull, Gompertz, Burr XII, the power generalised Weibull and
// the four-parameter adapted power generalised Weibull (APGW) of Burke, Jones & Noufaily (2020).
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

namespace paramkit::survival {

enum class Link { identity, log, log1p_shift };  // log1p_shift: eta = log(kappa + 1), kappa > -1

struct ParamInfo {
  std::string name;
  Link link;
  std::string meaning;
};

struct Family {
  std::string name;
  std::string description;
  std::vector<ParamInfo> params;
  bool location_scale = false;  // survreg's families: parameters mu (location) and scale
};

const std::vector<Family>& families();
// UsageError listing the families when unknown.
const Family& find_family(const std::string& name);

double link_inverse(Link l, double eta);
double link(Link l, double value);
torch::Tensor link_inverse(Link l, const torch::Tensor& eta);
const char* link_name(Link l);

// Per-row log hazard and cumulative hazard at t (double tensors), given each parameter's values on
// the natural scale (one tensor per parameter, broadcastable to t).
struct HazardTerms {
  torch::Tensor log_h, H;
};
HazardTerms hazard_terms(const Family& f, const torch::Tensor& t, const std::vector<torch::Tensor>& p);

// Plain-double versions for prediction and simulation.
double cumhaz(const Family& f, double t, const std::vector<double>& p);
double hazard(const Family& f, double t, const std::vector<double>& p);
// H(t) and h(t) at one time for many rows (params: rows x parameters, natural scale), in chunks of
// rows with a stop check between them (SIGINT/SIGTERM); either output may be null.
void cumhaz_rows(const Family& f, double t, const std::vector<std::vector<double>>& params, std::vector<double>* H,
                 std::vector<double>* h);
// H^{-1}(y): the time at which the cumulative hazard reaches y; +inf when it never does (a defective
// APGW, kappa < 0). Closed forms where they exist, else bisection on log t.
double inverse_cumhaz(const Family& f, double y, const std::vector<double>& p);
// H(infinity) (finite only for defective models).
double cumhaz_limit(const Family& f, const std::vector<double>& p);

}  // namespace paramkit::survival
