// PCB-Merging: clamp, intra-balancing exp(n N(|tau~|)^2), inter-balancing (raw / pcbpy / es), drop by
// keep ratio, rescale by the sum of scores, lambda.
#include "paramkit/merge/pcb.h"

#include <algorithm>
#include <cmath>
#include <cstring>

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

namespace {
// Order-preserving map of a float's bits to an unsigned key (negative values below positive ones).
inline uint32_t float_key(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
inline float key_float(uint32_t k) {
  uint32_t u = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
}  // namespace

std::vector<std::vector<float>> select_ranks(int64_t n, const std::vector<std::vector<int64_t>>& ranks,
                                             const std::function<void(const RowSink&)>& produce,
                                             std::vector<float>* row_max) {
  constexpr int64_t kBuckets = 1 << 16;
  std::vector<std::vector<uint64_t>> hi(n, std::vector<uint64_t>(kBuckets, 0));
  if (row_max) row_max->assign(n, -INFINITY);
  produce([&](int64_t r, const float* p, int64_t c) {
    uint64_t* h = hi[r].data();
    float mx = row_max ? (*row_max)[r] : 0.0f;
    for (int64_t i = 0; i < c; ++i) {
      ++h[float_key(p[i]) >> 16];
      if (row_max && p[i] > mx) mx = p[i];
    }
    if (row_max) (*row_max)[r] = mx;
  });
  // Each wanted rank's top-16-bit bucket and its rank inside the bucket.
  std::vector<std::vector<uint32_t>> bucket(n);
  std::vector<std::vector<uint64_t>> inner(n);
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t k : ranks[r]) {
      uint64_t before = 0;
      int64_t b = 0;
      while (b < kBuckets - 1 && before + hi[r][b] <= static_cast<uint64_t>(k)) before += hi[r][b++];
      bucket[r].push_back(static_cast<uint32_t>(b));
      inner[r].push_back(static_cast<uint64_t>(k) - before);
    }
  }
  hi.clear();
  std::vector<std::vector<std::vector<uint64_t>>> lo(n);
  for (int64_t r = 0; r < n; ++r) lo[r].assign(ranks[r].size(), std::vector<uint64_t>(kBuckets, 0));
  produce([&](int64_t r, const float* p, int64_t c) {
    const auto& bs = bucket[r];
    for (int64_t i = 0; i < c; ++i) {
      const uint32_t k = float_key(p[i]);
      for (size_t t = 0; t < bs.size(); ++t)
        if ((k >> 16) == bs[t]) ++lo[r][t][k & 0xffffu];
    }
  });
  std::vector<std::vector<float>> out(n);
  for (int64_t r = 0; r < n; ++r) {
    for (size_t t = 0; t < bucket[r].size(); ++t) {
      uint64_t before = 0;
      int64_t b = 0;
      while (b < kBuckets - 1 && before + lo[r][t][b] <= inner[r][t]) before += lo[r][t][b++];
      out[r].push_back(key_float((bucket[r][t] << 16) | static_cast<uint32_t>(b)));
    }
  }
  return out;
}

std::vector<std::vector<float>> row_ranks(const torch::Tensor& rows, const std::vector<int64_t>& ranks,
                                          std::vector<float>* row_max) {
  torch::Tensor r = rows.to(torch::kCPU, torch::kFloat32).contiguous();  // selection runs on the CPU
  const int64_t n = r.size(0), d = r.size(1);
  std::vector<std::vector<int64_t>> all(n, ranks);
  return select_ranks(
      n, all,
      [&](const RowSink& sink) {
        for (int64_t i = 0; i < n; ++i) sink(i, r.data_ptr<float>() + i * d, d);
      },
      row_max);
}

namespace {
// A column of per-task values on `like`'s device.
torch::Tensor col(const std::vector<float>& v, const torch::Tensor& like) {
  return torch::tensor(v, torch::kFloat32).unsqueeze(1).to(like.device());
}

// N(|tau~|) per row: clamped values lie in [lo, hi] and both bounds occur, so min-max normalisation
// is (x - lo) / (hi - lo). A constant row normalises to 0 (the reference divides 0 by 0).
torch::Tensor norm_abs(const torch::Tensor& abs_clamped, const PcbStats& st) {
  torch::Tensor lo = col(st.lo, abs_clamped), span = col(st.hi, abs_clamped) - lo;
  return torch::where(span > 0, (abs_clamped - lo) / span, torch::zeros_like(abs_clamped));
}

torch::Tensor clamped_abs(const torch::Tensor& tau, const PcbStats& st) {
  return torch::max(torch::min(tau.abs(), col(st.hi, tau)), col(st.lo, tau));
}
}  // namespace

void pcb_stage1(const torch::Tensor& tau, const PcbOptions& o, PcbStats& st) {
  const int64_t n = tau.size(0), d = tau.size(1);
  torch::Tensor a = tau.abs();
  if (o.clamp) {
    auto q = row_ranks(a, {lower_index(d, o.clamp_lo), upper_index(d, o.clamp_hi)});
    st.lo.clear();
    st.hi.clear();
    for (int64_t i = 0; i < n; ++i) {
      st.lo.push_back(q[i][0]);
      st.hi.push_back(q[i][1]);
    }
  } else {
    torch::Tensor mn = std::get<0>(a.min(1)).to(torch::kCPU).contiguous(), mx = std::get<0>(a.max(1)).to(torch::kCPU).contiguous();
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
  auto q = row_ranks(beta, {lower_index(d, 1.0 - o.ratio)}, &st.beta_max);
  st.thr.clear();
  for (int64_t i = 0; i < n; ++i) st.thr.push_back(q[i][0]);
}

torch::Tensor pcb_apply(const torch::Tensor& tau, const PcbOptions& o, const PcbStats& st, const torch::Tensor& beta_in) {
  const int64_t n = tau.size(0);
  torch::Tensor beta = beta_in.defined() ? beta_in : pcb_beta(tau, o, st);
  torch::Tensor thr = col(st.thr, tau), span = col(st.beta_max, tau) - thr;
  torch::Tensor s = torch::where(span > 0, (torch::max(beta, thr) - thr) / span, torch::zeros_like(beta));
  torch::Tensor tv = o.clamp ? torch::sign(tau) * clamped_abs(tau, st) : tau;
  std::vector<float> lam(n);
  for (int64_t i = 0; i < n; ++i) lam[i] = static_cast<float>(o.lambdas.empty() ? o.lambda : o.lambdas[i]);
  torch::Tensor num = (col(lam, tau) * tv * s).sum(0);
  return num / torch::clamp_min(s.sum(0), 1e-12);
}

torch::Tensor pcb_merge(const torch::Tensor& tau, const PcbOptions& o, PcbStats* stats_out) {
  PcbStats st;
  torch::Tensor t = tau.to(torch::kFloat32).contiguous();
  pcb_stage1(t, o, st);
  torch::Tensor beta = pcb_beta(t, o, st);
  pcb_stage2(beta, o, st);
  torch::Tensor m = pcb_apply(t, o, st, beta);
  if (stats_out) *stats_out = st;
  return m;
}

}  // namespace paramkit::merge
