// PCB-Merging: clamp, intra-balancing exp(n N(|tau~|)^2), inter-balancing (raw / pcbpy / es), drop by
// keep ratio, rescale by the sum of scores, lambda.
#include "paramkit/merge/pcb.h"

#include <algorithm>
#include <cmath>

#include "paramkit/core/error.h"

namespace paramkit::merge {

void PcbOptions::validate(size_t tasks) const {
  if (!(ratio > 0 && ratio <= 1)) throw UsageError("PCB keep ratio must lie in (0, 1], got " + std::to_string(ratio));
  if (clamp && !(clamp_lo >= 0 && clamp_lo < 0.5 && clamp_hi >= 0 && clamp_hi < 0.5))
    throw UsageError("PCB clamp quantiles must lie in [0, 0.5)");
  if (variant != "raw" && variant != "pcbpy" && variant != "es")
    throw UsageError("PCB variant must be raw, pcbpy or es, got '" + variant + "'");
  if (!lambdas.empty() && lambdas.size() != tasks)
    throw UsageError("PCB needs one lambda per fine-tuned model (" + std::to_string(tasks) + "), got " +
                     std::to_string(lambdas.size()));
}

int64_t lower_index(int64_t d, double q) {
  return std::clamp<int64_t>(static_cast<int64_t>(static_cast<double>(d) * q), 0, d - 1);
}

int64_t upper_index(int64_t d, double q) {
  return std::clamp<int64_t>(static_cast<int64_t>(static_cast<double>(d) * (1.0 - q) - 1.0), 0, d - 1);
}

std::vector<float> row_kth(const torch::Tensor& rows, const std::vector<int64_t>& k) {
  torch::Tensor r = rows.to(torch::kFloat32).contiguous();
  const int64_t n = r.size(0), d = r.size(1);
  std::vector<float> out(n);
  std::vector<float> buf(d);
  for (int64_t i = 0; i < n; ++i) {
    const float* p = r.data_ptr<float>() + i * d;
    std::copy(p, p + d, buf.begin());
    std::nth_element(buf.begin(), buf.begin() + k[i], buf.end());
    out[i] = buf[k[i]];
  }
  return out;
}

namespace {
torch::Tensor col(const std::vector<float>& v) { return torch::tensor(v, torch::kFloat32).unsqueeze(1); }

// N(|tau~|) per row: clamped values lie in [lo, hi] and both bounds occur, so min-max normalisation
// is (x - lo) / (hi - lo). A constant row normalises to 0 (the reference divides 0 by 0).
torch::Tensor norm_abs(const torch::Tensor& abs_clamped, const PcbStats& st) {
  torch::Tensor lo = col(st.lo), span = col(st.hi) - lo;
  return torch::where(span > 0, (abs_clamped - lo) / span, torch::zeros_like(abs_clamped));
}

torch::Tensor clamped_abs(const torch::Tensor& tau, const PcbStats& st) {
  return torch::max(torch::min(tau.abs(), col(st.hi)), col(st.lo));
}
}  // namespace

void pcb_stage1(const torch::Tensor& tau, const PcbOptions& o, PcbStats& st) {
  const int64_t n = tau.size(0), d = tau.size(1);
  torch::Tensor a = tau.abs();
  if (o.clamp) {
    st.lo = row_kth(a, std::vector<int64_t>(n, lower_index(d, o.clamp_lo)));
    st.hi = row_kth(a, std::vector<int64_t>(n, upper_index(d, o.clamp_hi)));
  } else {
    torch::Tensor mn = std::get<0>(a.min(1)).contiguous(), mx = std::get<0>(a.max(1)).contiguous();
    st.lo.assign(mn.data_ptr<float>(), mn.data_ptr<float>() + n);
    st.hi.assign(mx.data_ptr<float>(), mx.data_ptr<float>() + n);
  }
}

torch::Tensor pcb_beta(const torch::Tensor& tau, const PcbOptions& o, const PcbStats& st) {
  const int64_t n = tau.size(0);
  torch::Tensor nabs = norm_abs(clamped_abs(tau, st), st);
  torch::Tensor intra = torch::exp(static_cast<double>(n) * (nabs * nabs));  // the reference's order
  torch::Tensor inter;
  if (o.variant == "raw") {
    inter = torch::tanh(tau * tau.sum(0, true));
  } else {
    torch::Tensor hat = torch::sign(tau) * nabs;
    if (o.variant == "pcbpy") {
      inter = torch::tanh(tau * hat.sum(0, true));
    } else {  // es
      inter = torch::zeros_like(tau);
      for (int64_t j = 0; j < n; ++j) inter += torch::tanh(hat * hat[j].unsqueeze(0));
    }
  }
  return intra * inter;
}

void pcb_stage2(const torch::Tensor& beta, const PcbOptions& o, PcbStats& st) {
  const int64_t n = beta.size(0), d = beta.size(1);
  st.thr = row_kth(beta, std::vector<int64_t>(n, lower_index(d, 1.0 - o.ratio)));
  torch::Tensor mx = std::get<0>(beta.max(1)).contiguous();
  st.beta_max.assign(mx.data_ptr<float>(), mx.data_ptr<float>() + n);
}

torch::Tensor pcb_apply(const torch::Tensor& tau, const PcbOptions& o, const PcbStats& st) {
  const int64_t n = tau.size(0);
  torch::Tensor beta = pcb_beta(tau, o, st);
  torch::Tensor thr = col(st.thr), span = col(st.beta_max) - thr;
  torch::Tensor s = torch::where(span > 0, (torch::max(beta, thr) - thr) / span, torch::zeros_like(beta));
  torch::Tensor tv = o.clamp ? torch::sign(tau) * clamped_abs(tau, st) : tau;
  std::vector<float> lam(n);
  for (int64_t i = 0; i < n; ++i) lam[i] = static_cast<float>(o.lambdas.empty() ? o.lambda : o.lambdas[i]);
  torch::Tensor num = (col(lam) * tv * s).sum(0);
  return num / torch::clamp_min(s.sum(0), 1e-12);
}

torch::Tensor pcb_merge(const torch::Tensor& tau, const PcbOptions& o, PcbStats* stats_out) {
  PcbStats st;
  torch::Tensor t = tau.to(torch::kFloat32).contiguous();
  pcb_stage1(t, o, st);
  pcb_stage2(pcb_beta(t, o, st), o, st);
  torch::Tensor m = pcb_apply(t, o, st);
  if (stats_out) *stats_out = st;
  return m;
}

}  // namespace paramkit::merge
