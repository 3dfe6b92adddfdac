// Merge methods per tensor.
#include "paramkit/merge/methods.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "paramkit/core/error.h"

namespace paramkit::merge {

const std::vector<std::string>& method_names() {
  static const std::vector<std::string> v = {"linear",      "task_arithmetic",  "ties",  "dare_linear",  "dare_ties",
                                             "breadcrumbs", "breadcrumbs_ties", "della", "della_linear", "slerp",
                                             "model_stock", "pcb"};
  return v;
}

bool method_needs_base(const std::string& m) { return m != "linear"; }
bool method_is_random(const std::string& m) {
  return m == "dare_linear" || m == "dare_ties" || m == "della" || m == "della_linear";
}
bool method_is_gta(const std::string& m) {
  return m == "ties" || m == "dare_linear" || m == "dare_ties" || m == "breadcrumbs" || m == "breadcrumbs_ties" ||
         m == "della" || m == "della_linear";
}
bool method_has_consensus(const std::string& m) {
  return m == "ties" || m == "dare_ties" || m == "breadcrumbs_ties" || m == "della";
}
bool method_trims_by_count(const std::string& m) { return m == "ties"; }

// mergekit's registry (merge_methods/registry.py): {normalize, rescale}.
std::pair<bool, bool> method_defaults(const std::string& m) {
  if (m == "linear") return {true, false};
  if (m == "ties") return {true, false};
  if (m == "dare_linear" || m == "dare_ties") return {false, true};
  if (m == "della") return {true, true};
  if (m == "della_linear") return {false, true};
  return {false, false};  // task_arithmetic, breadcrumbs, breadcrumbs_ties
}

namespace {
// Numbers in messages: short (1e+308, not 309 digits).
std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.6g", v);
  return b;
}
bool della_like(const std::string& m) { return m == "della" || m == "della_linear"; }
}  // namespace

void validate_method(const MethodOptions& o, const std::vector<ModelParams>& models) {
  const auto& names = method_names();
  if (std::find(names.begin(), names.end(), o.method) == names.end()) {
    std::string all;
    for (const auto& n : names) all += (all.empty() ? "" : ", ") + n;
    throw UsageError("unknown merge method '" + o.method + "' (methods: " + all + ")");
  }
  if (models.empty()) throw UsageError("no models to merge");
  if (o.method == "slerp" && models.size() != 1)
    throw UsageError("slerp merges the base with exactly one other model, got " + std::to_string(models.size()));
  if (o.method == "slerp" && !(o.t >= 0 && o.t <= 1)) throw UsageError("slerp t must lie in [0, 1]");
  if (o.method == "model_stock" && models.size() < 2) throw UsageError("model_stock needs at least two fine-tuned models");
  for (size_t i = 0; i < models.size(); ++i) {
    const auto& p = models[i];
    const std::string who = "model " + std::to_string(i + 1);
    if (!(p.density > 0 && p.density <= 1)) throw UsageError(who + ": density must lie in (0, 1], got " + num(p.density));
    if (!(p.gamma >= 0 && p.gamma < 1)) throw UsageError(who + ": gamma must lie in [0, 1), got " + num(p.gamma));
    if (!(p.epsilon >= 0 && p.epsilon < 1)) throw UsageError(who + ": epsilon must lie in [0, 1), got " + num(p.epsilon));
    if (della_like(o.method) && p.density < 1 && !(p.density - p.epsilon > 0 && p.density + p.epsilon < 1))
      throw UsageError(who + ": della needs density +/- epsilon inside (0, 1), got " + num(p.density) + " +/- " + num(p.epsilon));
    if (!(std::fabs(p.weight) <= kMaxScale))
      throw UsageError(who + ": weight must be finite with magnitude at most " + num(kMaxScale) + ", got " + num(p.weight));
  }
  if (!(std::fabs(o.lambda) <= kMaxScale))
    throw UsageError("lambda must be finite with magnitude at most " + num(kMaxScale) + ", got " + num(o.lambda));
  if (o.method == "pcb") {
    o.pcb.validate(models.size());
    for (double l : o.pcb.lambdas)
      if (!(std::fabs(l) <= kMaxScale))
        throw UsageError("lambda must be finite with magnitude at most " + num(kMaxScale) + ", got " + num(l));
    if (!(std::fabs(o.pcb.lambda) <= kMaxScale))
      throw UsageError("lambda must be finite with magnitude at most " + num(kMaxScale) + ", got " + num(o.pcb.lambda));
  }
}

namespace {
torch::Tensor rescaled(const torch::Tensor& delta, const torch::Tensor& mask, bool rescale) {
  torch::Tensor masked = delta * mask;
  if (!rescale) return masked;
  double before = delta.abs().sum().item<double>(), after = masked.abs().sum().item<double>();
  if (before < 1e-7 || after < 1e-7) return masked;
  return masked * (before / after);
}
}  // namespace

namespace {
// Value at 0-based ascending rank k of a flat float tensor (exact, O(n)).
float value_at_rank(const torch::Tensor& flat, int64_t k) { return row_ranks(flat.unsqueeze(0), {k})[0][0]; }

// The first `need` true entries of a bool mask (all of them when there are no more than that; the
// running count, an int64 copy of the mask, is built only when some must be left out).
torch::Tensor first_true(const torch::Tensor& mask, int64_t need) {
  if (need <= 0) return torch::zeros_like(mask);
  if (mask.sum().item<int64_t>() <= need) return mask;
  return mask.logical_and(mask.cumsum(0) <= need);
}

// The k largest values; among equal values the lower indices first (a stable descending sort's top k).
torch::Tensor largest_mask(const torch::Tensor& mag, int64_t k) {
  const int64_t n = mag.numel();
  if (k <= 0) return torch::zeros_like(mag, torch::kBool);
  if (k >= n) return torch::ones_like(mag, torch::kBool);
  const float thr = value_at_rank(mag, n - k);
  torch::Tensor greater = mag > thr, equal = mag == thr;
  const int64_t need = k - greater.sum().item<int64_t>();
  return greater.logical_or_(first_true(equal, need));
}

// The k smallest values; among equal values the lower indices first (a stable ascending sort's first k).
torch::Tensor smallest_mask(const torch::Tensor& mag, int64_t k) {
  const int64_t n = mag.numel();
  if (k <= 0) return torch::zeros_like(mag, torch::kBool);
  if (k >= n) return torch::ones_like(mag, torch::kBool);
  const float thr = value_at_rank(mag, k - 1);
  torch::Tensor less = mag < thr, equal = mag == thr;
  const int64_t need = k - less.sum().item<int64_t>();
  return less.logical_or_(first_true(equal, need));
}
}  // namespace

torch::Tensor sparsify_magnitude(const torch::Tensor& delta, double density, bool rescale) {
  if (density >= 1) return delta;
  const int64_t k = static_cast<int64_t>(density * static_cast<double>(delta.numel()));
  torch::Tensor keep = largest_mask(delta.abs().flatten().contiguous(), k).reshape(delta.sizes());
  return rescaled(delta, keep.to(delta.scalar_type()), rescale);
}

torch::Tensor sparsify_bernoulli(const torch::Tensor& delta, double density, bool rescale, torch::Generator& gen) {
  if (density >= 1) return delta;
  // Drawn on the CPU (the generator is a CPU one), so a seed gives the same mask on every device.
  torch::Tensor mask = torch::bernoulli(torch::full(delta.sizes(), density, torch::kFloat32), gen);
  return rescaled(delta, mask.to(delta.device(), delta.scalar_type()), rescale);
}

torch::Tensor sparsify_outliers(const torch::Tensor& delta, double density, double gamma, bool rescale) {
  if (density >= 1) return delta;
  const int64_t n = delta.numel();
  const int64_t target = static_cast<int64_t>(density * static_cast<double>(n));
  int64_t top = static_cast<int64_t>(gamma * static_cast<double>(n));
  int64_t bottom = n - target - top;
  if (bottom < 0) {
    top += bottom;
    bottom = 0;
  }
  // Keep stable-ascending ranks [bottom, n - top) of the magnitudes (mergekit slices [bottom:-top],
  // which keeps nothing when top is 0). The top ranks among equal values go to the higher indices.
  torch::Tensor mag = delta.abs().flatten().contiguous();
  torch::Tensor low = smallest_mask(mag, bottom);
  torch::Tensor high = largest_mask(mag.flip(0), top).flip(0);
  torch::Tensor keep = low.logical_or(high).logical_not().reshape(delta.sizes());
  return rescaled(delta, keep.to(delta.scalar_type()), rescale);
}

namespace {
// DELLA ranks along dim 1 (mergekit's argsort(dim=1)): a 1-D tensor as one row [1, n], 2-D as it is,
// more dims as [size0, size1, rest] (dim 1 of the original for each index of the others).
std::vector<int64_t> della_dims(const std::vector<int64_t>& shape) {
  int64_t count = 1;
  for (int64_t s : shape) count *= s;
  if (shape.size() < 2) return {1, count};
  if (shape.size() == 2) return shape;
  return {shape[0], shape[1], shape[0] * shape[1] == 0 ? 0 : count / (shape[0] * shape[1])};
}

// Probabilities of a tensor already viewed as della_dims.
torch::Tensor della_probs_of(const torch::Tensor& d, double density, double epsilon) {
  // Ranks 1..m along dim 1 by magnitude; normalised to [0, 1] (a single entry: 0, where mergekit
  // divides 0 by 0).
  torch::Tensor ranks = d.abs().argsort(int64_t{1}).argsort(int64_t{1}).to(torch::kFloat32) + 1;
  torch::Tensor mn = std::get<0>(ranks.min(1, true)), mx = std::get<0>(ranks.max(1, true));
  torch::Tensor rank_norm = torch::where(mx > mn, (ranks - mn) / (mx - mn), torch::zeros_like(ranks)).clamp(0, 1);
  return (density - epsilon) + rank_norm * 2 * epsilon;
}
}  // namespace

torch::Tensor della_probabilities(const torch::Tensor& delta, double density, double epsilon) {
  return della_probs_of(delta.reshape(della_dims(delta.sizes().vec())), density, epsilon);
}

torch::Tensor sparsify_della(const torch::Tensor& delta, double density, double epsilon, bool rescale, torch::Generator& gen) {
  if (density >= 1) return delta;
  torch::Tensor probs = della_probabilities(delta, density, epsilon);
  torch::Tensor mask = torch::bernoulli(probs.to(torch::kCPU), gen).reshape(delta.sizes()).to(delta.device());
  return rescaled(delta, mask, rescale);
}

bool method_is_linear_mix(const std::string& m) { return m == "linear" || m == "task_arithmetic"; }

LinearMix linear_mix(const MethodOptions& o, const std::vector<ModelParams>& params) {
  const bool normalize = o.normalize.value_or(method_defaults(o.method).first);
  LinearMix mix;
  double wsum = 0;
  for (const auto& p : params) {
    mix.w.push_back(static_cast<float>(p.weight));
    wsum += p.weight;
  }
  // mergekit: linear divides by the weight sum unless it is ~0; task arithmetic (normalize off by
  // default) likewise when asked to; lambda scales the task-vector sum (linear has none).
  if (normalize && std::fabs(wsum) >= 1e-8) mix.divisor = static_cast<float>(wsum);
  if (o.method != "linear") mix.lambda = static_cast<float>(o.lambda);
  return mix;
}

void mix_linear(const float* base, const std::vector<const float*>& xs, const std::vector<float>& w, float lambda,
                float divisor, int64_t count, float* out) {
  constexpr int64_t kBlock = 2048;  // accumulators stay in L1
  float acc[kBlock];
  const size_t n = xs.size();
  for (int64_t j0 = 0; j0 < count; j0 += kBlock) {
    const int64_t m = std::min(kBlock, count - j0);
    for (int64_t j = 0; j < m; ++j) acc[j] = 0.f;
    for (size_t i = 0; i < n; ++i) {
      const float* x = xs[i] + j0;
      const float wi = w[i];
      if (base) {
        const float* b = base + j0;
        for (int64_t j = 0; j < m; ++j) acc[j] += wi * (x[j] - b[j]);
      } else {
        for (int64_t j = 0; j < m; ++j) acc[j] += wi * x[j];
      }
    }
    float* o = out + j0;
    if (base) {
      const float* b = base + j0;
      for (int64_t j = 0; j < m; ++j) o[j] = b[j] + lambda * (acc[j] / divisor);
    } else {
      for (int64_t j = 0; j < m; ++j) o[j] = lambda * (acc[j] / divisor);
    }
  }
}

torch::Tensor merge_tensor_torch(const MethodOptions& o, const torch::Tensor& base, const std::vector<torch::Tensor>& models,
                                 const std::vector<ModelParams>& params, torch::Generator& gen) {
  const std::string& m = o.method;
  auto [def_norm, def_rescale] = method_defaults(m);
  const bool normalize = o.normalize.value_or(def_norm), rescale = o.rescale.value_or(def_rescale);
  const int64_t n = static_cast<int64_t>(models.size());

  if (method_is_linear_mix(m)) {
    const LinearMix mix = linear_mix(o, params);
    const bool with_base = m != "linear";
    if (!models[0].device().is_cpu()) {  // GPU: the same arithmetic as LibTorch ops
      torch::Tensor acc = torch::zeros_like(models[0], models[0].options().dtype(torch::kFloat32));
      for (int64_t i = 0; i < n; ++i) acc.add_(with_base ? models[i] - base : models[i], mix.w[i]);
      acc = mix.lambda * (acc / mix.divisor);
      return with_base ? base + acc : acc;
    }
    std::vector<torch::Tensor> keep;
    std::vector<const float*> xs;
    for (const auto& x : models) {
      keep.push_back(x.to(torch::kFloat32).contiguous());
      xs.push_back(keep.back().data_ptr<float>());
    }
    torch::Tensor b = with_base ? base.to(torch::kFloat32).contiguous() : torch::Tensor();
    torch::Tensor out = torch::empty(models[0].sizes(), models[0].options().dtype(torch::kFloat32));
    mix_linear(b.defined() ? b.data_ptr<float>() : nullptr, xs, mix.w, mix.lambda, mix.divisor, out.numel(),
               out.data_ptr<float>());
    return out;
  }
  if (m == "slerp") {
    // mergekit's slerp: each vector is normalised only when its norm exceeds 1e-8 (an all-zero
    // tensor stays zero, so its dot product is 0 and the interpolation spherical: sin(t pi/2) v1).
    torch::Tensor v0 = base.flatten().to(torch::kFloat64), v1 = models[0].flatten().to(torch::kFloat64);
    double n0 = v0.norm().item<double>(), n1 = v1.norm().item<double>();
    torch::Tensor u0 = n0 > 1e-8 ? v0 / n0 : v0, u1 = n1 > 1e-8 ? v1 / n1 : v1;
    double dot = u0.dot(u1).item<double>();
    torch::Tensor r;
    if (std::fabs(dot) > 0.9995) {
      r = (1 - o.t) * v0 + o.t * v1;  // nearly colinear: linear interpolation
    } else {
      double theta0 = std::acos(dot), s0 = std::sin(theta0);
      double theta_t = theta0 * o.t;
      r = (std::sin(theta0 - theta_t) / s0) * v0 + (std::sin(theta_t) / s0) * v1;
    }
    return r.to(base.scalar_type()).reshape(base.sizes());
  }
  if (m == "model_stock") {
    // Model Stock (Jang et al. 2024): t = N cos / (1 + (N - 1) cos) from the mean pairwise cosine of
    // the task vectors; result t * average + (1 - t) * base. As mergekit: cos = dot / max(|a| |b|, 1e-6),
    // clamped to [-1, 1] (a zero offset has cos 0; tiny offsets have their cosine shrunk).
    std::vector<torch::Tensor> off;
    for (const auto& x : models) off.push_back((x - base).flatten().to(torch::kFloat64));
    double cos_sum = 0;
    int pairs = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = i + 1; j < n; ++j, ++pairs) {
        double a = off[i].norm().item<double>(), b = off[j].norm().item<double>();
        cos_sum += std::clamp(off[i].dot(off[j]).item<double>() / std::max(a * b, 1e-6), -1.0, 1.0);
      }
    double c = cos_sum / pairs;
    double t = (n * c) / (1 + (n - 1) * c);
    // Mean cosine -1/(N-1): the unit offsets sum to zero and mergekit divides by zero (a NaN tensor);
    // the limit is the base (the models' average is the base there).
    if (!std::isfinite(t)) t = 0;
    torch::Tensor avg = torch::zeros_like(base);
    for (const auto& x : models) avg += x;
    avg /= static_cast<double>(n);
    return t * avg + (1 - t) * base;
  }

  const bool consensus = method_has_consensus(m);
  auto sparsified = [&](int64_t i) {
    const ModelParams& p = params[i];
    torch::Tensor d = models[i] - base;
    if (m == "ties") return sparsify_magnitude(d, p.density, rescale);
    if (m == "dare_linear" || m == "dare_ties") return sparsify_bernoulli(d, p.density, rescale, gen);
    if (m == "breadcrumbs" || m == "breadcrumbs_ties") return sparsify_outliers(d, p.density, p.gamma, rescale);
    if (della_like(m)) return sparsify_della(d, p.density, p.epsilon, rescale, gen);
    return d;
  };
  if (m != "pcb" && !consensus) {
    // Linear mixing: one running sum, no stacked copies of the task vectors.
    torch::Tensor mixed = torch::zeros_like(base);
    double wsum = 0;
    for (int64_t i = 0; i < n; ++i) {
      mixed.add_(sparsified(i), params[i].weight);
      wsum += params[i].weight;
    }
    if (normalize && std::fabs(wsum) >= 1e-8) mixed.div_(wsum);
    return base + o.lambda * mixed;
  }
  std::vector<torch::Tensor> deltas;
  if (m == "pcb") {
    for (const auto& x : models) deltas.push_back(x - base);
    torch::Tensor tau = torch::stack(deltas).reshape({n, -1});
    return base + pcb_merge(tau, o.pcb).reshape(base.sizes());
  }
  // Sign consensus (TIES-style): sparsify, weight, elect, mix the agreeing entries, normalise, lambda.
  for (int64_t i = 0; i < n; ++i) deltas.push_back(sparsified(i));
  torch::Tensor weighted = torch::stack(deltas);
  deltas.clear();  // in-place from here on: a merge holds few tensor-sized temporaries
  std::vector<float> w(n);
  for (int64_t i = 0; i < n; ++i) w[i] = static_cast<float>(params[i].weight);
  std::vector<int64_t> wshape(weighted.dim(), 1);
  wshape[0] = n;
  torch::Tensor weights = torch::tensor(w, torch::kFloat32).reshape(wshape).to(weighted.device());
  weighted.mul_(weights);
  torch::Tensor mixed, divisor;
  {
    torch::Tensor majority = torch::where(weighted.sum(0) >= 0, torch::ones_like(base), -torch::ones_like(base));
    torch::Tensor mask = weighted.sign().eq_(majority.unsqueeze(0));  // 1.0 where the sign agrees
    divisor = (weights * mask).sum(0);
    mixed = weighted.mul_(mask).sum(0);
    divisor = torch::where(divisor == 0, torch::ones_like(divisor), divisor);
  }
  if (normalize) mixed = mixed / divisor;
  return base + o.lambda * mixed;
}

// ---- The sparsifying methods on the CPU with bounded memory -------------------------------------
// The steps of merge_tensor_torch, in the same order and on the same values, so the bytes are the
// same: masks by exact selection (the same radix selection, the same tie rule) or by the same
// LibTorch random draws over the whole tensor, and the mixing as the same LibTorch operations on
// column blocks (every operation there is per column: elementwise, or a sum over the models).

float* GtaBuffers::row(size_t i, size_t n, int64_t count) {
  const size_t need = n * static_cast<size_t>(count);
  if (rows.size() < need) rows.resize(need);
  return rows.data() + i * static_cast<size_t>(count);
}

namespace {
// Value at 0-based ascending rank k of |d| (exact), fed to the radix selection in small chunks.
float abs_value_at_rank(const float* d, int64_t count, int64_t k) {
  auto q = select_ranks(1, {{k}}, [&](const RowSink& sink) {
    constexpr int64_t kChunk = 4096;
    float chunk[kChunk];
    for (int64_t j0 = 0; j0 < count; j0 += kChunk) {
      const int64_t len = std::min(kChunk, count - j0);
      for (int64_t j = 0; j < len; ++j) chunk[j] = std::fabs(d[j0 + j]);
      sink(0, chunk, len);
    }
  });
  return q[0][0];
}

// keep[j] |= the k largest |d| (among equal values the lower indices first, or the higher ones when
// from_end): largest_mask above, without the temporaries.
void mark_largest(const float* d, int64_t count, int64_t k, bool from_end, std::vector<uint8_t>& keep) {
  if (k <= 0) return;
  if (k >= count) {
    std::fill(keep.begin(), keep.begin() + count, 1);
    return;
  }
  const float thr = abs_value_at_rank(d, count, count - k);
  int64_t greater = 0;
  for (int64_t j = 0; j < count; ++j) greater += std::fabs(d[j]) > thr;
  int64_t need = k - greater;
  for (int64_t s = 0; s < count; ++s) {
    const int64_t j = from_end ? count - 1 - s : s;
    const float a = std::fabs(d[j]);
    if (a > thr) keep[j] = 1;
    else if (a == thr && need > 0) keep[j] = 1, --need;
  }
}

// keep[j] |= the k smallest |d| (among equal values the lower indices first): smallest_mask.
void mark_smallest(const float* d, int64_t count, int64_t k, std::vector<uint8_t>& keep) {
  if (k <= 0) return;
  if (k >= count) {
    std::fill(keep.begin(), keep.begin() + count, 1);
    return;
  }
  const float thr = abs_value_at_rank(d, count, k - 1);
  int64_t less = 0;
  for (int64_t j = 0; j < count; ++j) less += std::fabs(d[j]) < thr;
  int64_t need = k - less;
  for (int64_t j = 0; j < count; ++j) {
    const float a = std::fabs(d[j]);
    if (a < thr) keep[j] = 1;
    else if (a == thr && need > 0) keep[j] = 1, --need;
  }
}

// Entries of row d that a magnitude method keeps (ties: the largest; breadcrumbs: between the
// outliers and the smallest), as sparsify_magnitude / sparsify_outliers choose them.
void magnitude_keep(const std::string& m, const ModelParams& p, const float* d, int64_t count, std::vector<uint8_t>& keep) {
  keep.assign(static_cast<size_t>(count), 0);
  if (m == "ties") {
    mark_largest(d, count, static_cast<int64_t>(p.density * static_cast<double>(count)), false, keep);
    return;
  }
  // Drop the `top` largest (higher indices first among equals) and the `bottom` smallest (lower
  // indices first); keep the rest.
  const int64_t target = static_cast<int64_t>(p.density * static_cast<double>(count));
  int64_t top = static_cast<int64_t>(p.gamma * static_cast<double>(count));
  int64_t bottom = count - target - top;
  if (bottom < 0) {
    top += bottom;
    bottom = 0;
  }
  mark_smallest(d, count, bottom, keep);
  mark_largest(d, count, top, true, keep);
  for (auto& k : keep) k = !k;
}

// The random 0/1 mask of dare or della for row d, into `mask` (float, as torch::bernoulli makes it);
// `probs` is scratch of the same size.
void random_mask(const std::string& m, const ModelParams& p, const float* d, const std::vector<int64_t>& shape, int64_t count,
                 torch::Generator& gen, float* mask, float* probs) {
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  if (m == "dare_linear" || m == "dare_ties") {
    torch::Tensor pr = torch::from_blob(probs, shape, f32);
    pr.fill_(p.density);
    torch::from_blob(mask, shape, f32).bernoulli_(pr, gen);  // what torch::bernoulli(probs, gen) draws
    return;
  }
  // della, della_linear: probabilities in blocks of whole rows (bounded temporaries), one draw.
  const std::vector<int64_t> dims = della_dims(shape);
  const int64_t rows = dims[0], per_row = rows > 0 ? count / rows : 0;
  const int64_t block = std::max<int64_t>(1, (int64_t{1} << 18) / std::max<int64_t>(per_row, 1));
  for (int64_t r0 = 0; r0 < rows; r0 += block) {
    std::vector<int64_t> bd = dims;
    bd[0] = std::min(block, rows - r0);
    torch::Tensor src = torch::from_blob(const_cast<float*>(d) + r0 * per_row, bd, f32);
    torch::from_blob(probs + r0 * per_row, bd, f32).copy_(della_probs_of(src, p.density, p.epsilon));
  }
  torch::from_blob(mask, dims, f32).bernoulli_(torch::from_blob(probs, dims, f32), gen);
}
}  // namespace

void merge_gta(const MethodOptions& o, const float* base, const std::vector<ModelParams>& params,
               const std::vector<int64_t>& shape, torch::Generator& gen, GtaBuffers& buf, float* out) {
  const std::string& m = o.method;
  auto [def_norm, def_rescale] = method_defaults(m);
  const bool normalize = o.normalize.value_or(def_norm), rescale = o.rescale.value_or(def_rescale);
  const int64_t n = static_cast<int64_t>(params.size());
  int64_t count = 1;
  for (int64_t s : shape) count *= s;
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  torch::Tensor b = torch::from_blob(const_cast<float*>(base), shape, f32);
  // Scratch only where a step needs it (random masks, rescaling): ties holds n + 2 tensors.
  auto scratch = [&](std::vector<float>& v) {
    if (v.size() < static_cast<size_t>(count)) v.resize(static_cast<size_t>(count));
    return v.data();
  };
  const bool magnitude = m == "ties" || m == "breadcrumbs" || m == "breadcrumbs_ties";
  thread_local std::vector<uint8_t> keep;

  // Task vectors in place, sparsified model by model (random draws in model order).
  for (int64_t i = 0; i < n; ++i) {
    float* d = buf.rows.data() + i * count;
    torch::Tensor di = torch::from_blob(d, shape, f32);
    di.sub_(b);
    if (params[i].density >= 1) continue;
    // rescaled(): delta * mask, then the L1 norm of delta restored (unless either norm is ~0).
    auto abs_sum = [&] {
      torch::Tensor a = torch::from_blob(scratch(buf.a), shape, f32);
      return at::abs_out(a, di).sum().item<double>();
    };
    double before = 0;
    if (magnitude) {
      magnitude_keep(m, params[i], d, count, keep);
      if (rescale) before = abs_sum();
      for (int64_t j = 0; j < count; ++j) d[j] = d[j] * (keep[j] ? 1.0f : 0.0f);  // delta * mask, as LibTorch
    } else {
      random_mask(m, params[i], d, shape, count, gen, scratch(buf.b), scratch(buf.a));
      if (rescale) before = abs_sum();
      di.mul_(torch::from_blob(buf.b.data(), shape, f32));
    }
    if (rescale) {
      const double after = abs_sum();
      if (!(before < 1e-7 || after < 1e-7)) di.mul_(before / after);
    }
  }

  torch::Tensor result = torch::from_blob(out, shape, f32);
  if (!method_has_consensus(m)) {
    // Linear mixing: one running sum (the same fused add as merge_tensor_torch, on whole tensors).
    result.zero_();
    double wsum = 0;
    for (int64_t i = 0; i < n; ++i) {
      result.add_(torch::from_blob(buf.rows.data() + i * count, shape, f32), params[i].weight);
      wsum += params[i].weight;
    }
    if (normalize && std::fabs(wsum) >= 1e-8) result.div_(wsum);
    result.mul_(o.lambda).add_(b);
    return;
  }
  // Sign consensus in column blocks of the [n, count] task matrix.
  std::vector<float> w(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) w[i] = static_cast<float>(params[i].weight);
  torch::Tensor weights = torch::tensor(w, torch::kFloat32).reshape({n, 1});
  torch::Tensor all = torch::from_blob(buf.rows.data(), {n, count}, f32);
  torch::Tensor flat_base = b.reshape({count}), flat_out = result.reshape({count});
  constexpr int64_t kBlock = int64_t{1} << 16;
  for (int64_t j0 = 0; j0 < count; j0 += kBlock) {
    const int64_t len = std::min(kBlock, count - j0);
    torch::Tensor weighted = all.narrow(1, j0, len);
    weighted.mul_(weights);
    torch::Tensor mixed, divisor;
    {
      torch::Tensor total = weighted.sum(0);
      torch::Tensor majority = torch::where(total >= 0, torch::ones_like(total), -torch::ones_like(total));
      torch::Tensor agree = weighted.sign().eq_(majority.unsqueeze(0));
      divisor = (weights * agree).sum(0);
      mixed = weighted.mul_(agree).sum(0);
      divisor = torch::where(divisor == 0, torch::ones_like(divisor), divisor);
    }
    if (normalize) mixed = mixed / divisor;
    torch::Tensor dst = flat_out.narrow(0, j0, len);
    at::add_out(dst, flat_base.narrow(0, j0, len), mixed.mul_(o.lambda));
  }
}

torch::Tensor merge_tensor(const MethodOptions& o, const torch::Tensor& base, const std::vector<torch::Tensor>& models,
                           const std::vector<ModelParams>& params, torch::Generator& gen) {
  if (!method_is_gta(o.method) || !base.device().is_cpu()) return merge_tensor_torch(o, base, models, params, gen);
  GtaBuffers buf;
  const int64_t count = base.numel();
  for (size_t i = 0; i < models.size(); ++i) {
    torch::Tensor x = models[i].to(torch::kFloat32).contiguous();
    std::memcpy(buf.row(i, models.size(), count), x.data_ptr<float>(), static_cast<size_t>(count) * sizeof(float));
  }
  torch::Tensor b = base.to(torch::kFloat32).contiguous();
  torch::Tensor out = torch::empty(base.sizes(), b.options());
  merge_gta(o, b.data_ptr<float>(), params, base.sizes().vec(), gen, buf, out.data_ptr<float>());
  return out;
}

}  // namespace paramkit::merge
