// Merge methods per tensor.
#include "paramkit/merge/methods.h"

#include <cmath>

#include "paramkit/core/error.h"

namespace paramkit::merge {

const std::vector<std::string>& method_names() {
  static const std::vector<std::string> v = {"linear", "task_arithmetic", "ties",  "dare_linear", "dare_ties",
                                             "breadcrumbs", "della", "slerp", "model_stock", "pcb"};
  return v;
}

bool method_needs_base(const std::string& m) { return m != "linear"; }
bool method_is_random(const std::string& m) { return m == "dare_linear" || m == "dare_ties" || m == "della"; }

std::pair<bool, bool> method_defaults(const std::string& m) {
  if (m == "linear") return {true, false};
  if (m == "ties") return {true, false};
  if (m == "dare_linear" || m == "dare_ties") return {false, true};
  if (m == "della") return {true, true};
  return {false, false};  // task_arithmetic, breadcrumbs
}

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
    if (!(p.density > 0 && p.density <= 1)) throw UsageError(who + ": density must lie in (0, 1], got " + std::to_string(p.density));
    if (!(p.gamma >= 0 && p.gamma < 1)) throw UsageError(who + ": gamma must lie in [0, 1)");
    if (o.method == "della" && p.density < 1 && !(p.density - p.epsilon > 0 && p.density + p.epsilon < 1))
      throw UsageError(who + ": della needs density +/- epsilon inside (0, 1)");
    if (!std::isfinite(p.weight)) throw UsageError(who + ": weight must be finite");
  }
  if (o.method == "pcb") o.pcb.validate(models.size());
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

torch::Tensor sparsify_della(const torch::Tensor& delta, double density, double epsilon, bool rescale, torch::Generator& gen) {
  if (density >= 1) return delta;
  torch::Tensor d2 = delta.dim() < 2 ? delta.unsqueeze(0) : delta.reshape({delta.size(0), -1});
  // Ranks 1..m within each row by magnitude; normalised to [0, 1].
  torch::Tensor ranks = d2.abs().argsort(int64_t{1}).argsort(int64_t{1}).to(torch::kFloat32) + 1;
  torch::Tensor mn = std::get<0>(ranks.min(1, true)), mx = std::get<0>(ranks.max(1, true));
  torch::Tensor rank_norm = torch::where(mx > mn, (ranks - mn) / (mx - mn), torch::zeros_like(ranks)).clamp(0, 1);
  torch::Tensor probs = (density - epsilon) + rank_norm * 2 * epsilon;
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

torch::Tensor merge_tensor(const MethodOptions& o, const torch::Tensor& base, const std::vector<torch::Tensor>& models,
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
    torch::Tensor v0 = base.flatten().to(torch::kFloat64), v1 = models[0].flatten().to(torch::kFloat64);
    double n0 = v0.norm().item<double>(), n1 = v1.norm().item<double>();
    double dot = (n0 > 1e-8 && n1 > 1e-8) ? (v0 / n0).dot(v1 / n1).item<double>() : 1.0;
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
    // the task vectors; result t * average + (1 - t) * base.
    std::vector<torch::Tensor> off;
    for (const auto& x : models) off.push_back((x - base).flatten().to(torch::kFloat64));
    double cos_sum = 0;
    int pairs = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = i + 1; j < n; ++j, ++pairs) {
        double a = off[i].norm().item<double>(), b = off[j].norm().item<double>();
        cos_sum += (a > 1e-12 && b > 1e-12) ? off[i].dot(off[j]).item<double>() / (a * b) : 1.0;
      }
    double c = cos_sum / pairs;
    double t = (n * c) / (1 + (n - 1) * c);
    torch::Tensor avg = torch::zeros_like(base);
    for (const auto& x : models) avg += x;
    avg /= static_cast<double>(n);
    return t * avg + (1 - t) * base;
  }

  const bool consensus = m == "ties" || m == "dare_ties" || m == "della";
  auto sparsified = [&](int64_t i) {
    const ModelParams& p = params[i];
    torch::Tensor d = models[i] - base;
    if (m == "ties") return sparsify_magnitude(d, p.density, rescale);
    if (m == "dare_linear" || m == "dare_ties") return sparsify_bernoulli(d, p.density, rescale, gen);
    if (m == "breadcrumbs") return sparsify_outliers(d, p.density, p.gamma, rescale);
    if (m == "della") return sparsify_della(d, p.density, p.epsilon, rescale, gen);
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

}  // namespace paramkit::merge
