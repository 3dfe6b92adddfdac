// Merge methods: PCB against a direct transcription of the reference code (full sorts, as in
// pcb-merging.py), hand-computed cases for mergekit's methods, and the properties of the spec.
#include <doctest/doctest.h>

#include <torch/torch.h>

#include <cmath>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "paramkit/core/error.h"
#include "paramkit/merge/merge_job.h"
#include "paramkit/merge/methods.h"
#include "paramkit/merge/search.h"

using namespace paramkit;
using namespace paramkit::merge;

namespace {
// The reference algorithm, literally: sort-based quantiles, min-max normalisation, tanh.
torch::Tensor ref_normalize(const torch::Tensor& x) {
  torch::Tensor mn = std::get<0>(x.min(1, true)), mx = std::get<0>(x.max(1, true));
  return (x - mn) / (mx - mn);
}
torch::Tensor ref_clamp(const torch::Tensor& x, double min_ratio, double max_ratio) {
  int64_t d = x.size(1);
  torch::Tensor sorted = std::get<0>(x.sort(1));
  torch::Tensor lo = sorted.select(1, static_cast<int64_t>(d * min_ratio)).unsqueeze(1);
  torch::Tensor hi = sorted.select(1, static_cast<int64_t>(d * (1 - max_ratio) - 1)).unsqueeze(1);
  return torch::max(torch::min(x, hi), lo);
}
torch::Tensor ref_pcb(const torch::Tensor& checks, double ratio, double q, const std::string& variant, const std::vector<double>& lams) {
  int64_t n = checks.size(0);
  torch::Tensor abs_c = ref_clamp(checks.abs(), q, q);
  torch::Tensor clamped = checks.sign() * abs_c;
  torch::Tensor self = ref_normalize(abs_c).pow(2);
  torch::Tensor self_act = torch::exp(n * self);
  torch::Tensor cross;
  torch::Tensor hat = checks.sign() * ref_normalize(abs_c);
  if (variant == "raw") cross = torch::tanh(checks * checks.sum(0));
  else if (variant == "pcbpy") cross = torch::tanh(checks * hat.sum(0));
  else {
    cross = torch::zeros_like(checks);
    for (int64_t j = 0; j < n; ++j) cross += torch::tanh(hat * hat[j]);
  }
  torch::Tensor task = self_act * cross;
  torch::Tensor scale = ref_normalize(ref_clamp(task, 1 - ratio, 0));
  torch::Tensor lam = torch::tensor(std::vector<float>(lams.begin(), lams.end())).unsqueeze(1);
  return (lam * clamped * scale).sum(0) / torch::clamp_min(scale.sum(0), 1e-12);
}

torch::Tensor merge_one(const std::string& method, const torch::Tensor& base, const std::vector<torch::Tensor>& xs,
                    std::vector<ModelParams> ps = {}, MethodOptions o = {}) {
  o.method = method;
  if (ps.empty()) ps.assign(xs.size(), ModelParams{});
  validate_method(o, ps);
  torch::Generator gen = at::detail::createCPUGenerator(42);
  return merge_tensor(o, base, xs, ps, gen);
}
}  // namespace

TEST_CASE("PCB equals the reference algorithm for every variant, ratio and per-task lambda") {
  torch::manual_seed(0);
  torch::Tensor tau = torch::randn({3, 2000}) * torch::rand({3, 1}) + 0.01 * torch::randn({3, 2000}).pow(3);
  for (const char* variant : {"raw", "pcbpy", "es"}) {
    for (double ratio : {0.05, 0.1, 0.2, 1.0}) {
      PcbOptions o;
      o.ratio = ratio;
      o.variant = variant;
      o.clamp_lo = o.clamp_hi = 0.01;
      o.lambdas = {1.2, 0.9, 1.5};
      torch::Tensor ours = pcb_merge(tau, o);
      torch::Tensor ref = ref_pcb(tau, ratio, 0.01, variant, o.lambdas);
      CHECK_MESSAGE(torch::allclose(ours, ref, 1e-6, 1e-7), variant << " r=" << ratio << " maxdiff=" << (ours - ref).abs().max().item<double>() << " nan=" << ref.isnan().sum().item<int64_t>());
    }
  }
}

TEST_CASE("PCB: keep counts, identical task vectors, order invariance") {
  torch::manual_seed(1);
  const int64_t d = 1000;
  torch::Tensor tau = torch::randn({3, d});
  PcbOptions o;
  o.ratio = 0.05;
  PcbStats st;
  pcb_merge(tau, o, &st);
  torch::Tensor beta = pcb_beta(tau, o, st);
  for (int64_t i = 0; i < 3; ++i) {
    int64_t above = (beta[i] > st.thr[i]).sum().item<int64_t>();
    CHECK(above == d - 1 - lower_index(d, 1 - o.ratio));  // floor(r d) up to the reference's rounding
    CHECK(above >= static_cast<int64_t>(o.ratio * d) - 1);
  }
  // Identical task vectors: lambda * tau~ where kept, 0 elsewhere.
  torch::Tensor same = tau[0].unsqueeze(0).repeat({3, 1});
  o.lambda = 1.3;
  PcbStats s2;
  torch::Tensor m = pcb_merge(same, o, &s2);
  torch::Tensor clamped = torch::sign(same[0]) * torch::clamp(same[0].abs(), s2.lo[0], s2.hi[0]);
  torch::Tensor kept = pcb_beta(same, o, s2)[0] > s2.thr[0];
  CHECK(torch::allclose(m, torch::where(kept, 1.3 * clamped, torch::zeros_like(clamped)), 1e-6, 1e-7));
  // Task order never matters.
  o.lambda = 1.0;
  torch::Tensor perm = tau.index_select(0, torch::tensor({2L, 0L, 1L}));
  CHECK(torch::allclose(pcb_merge(tau, o), pcb_merge(perm, o), 1e-6, 1e-7));
  o.ratio = 1.5;
  CHECK_THROWS_AS(o.validate(3), UsageError);
  o.ratio = 0;
  CHECK_THROWS_AS(o.validate(3), UsageError);
}

TEST_CASE("task arithmetic and linear by hand") {
  torch::Tensor base = torch::tensor({1.0f, 2.0f, 3.0f});
  torch::Tensor a = torch::tensor({2.0f, 2.0f, 0.0f}), b = torch::tensor({1.0f, 4.0f, 3.0f});
  MethodOptions o;
  o.lambda = 0.5;
  std::vector<ModelParams> ps(2);
  ps[0].weight = 1.0;
  ps[1].weight = 2.0;
  // deltas (1,0,-3) and (0,2,0): 1*(1,0,-3) + 2*(0,2,0) = (1,4,-3); times 0.5.
  CHECK(torch::allclose(merge_one("task_arithmetic", base, {a, b}, ps, o), torch::tensor({1.5f, 4.0f, 1.5f})));
  // linear: (1*a + 2*b) / 3.
  CHECK(torch::allclose(merge_one("linear", torch::Tensor(), {a, b}, ps), torch::tensor({4.0f / 3, 10.0f / 3, 2.0f})));
}

TEST_CASE("ties by hand: trim to density, elect sign, disjoint mean") {
  torch::Tensor base = torch::zeros({4});
  torch::Tensor a = torch::tensor({1.0f, -2.0f, 3.0f, 0.5f}), b = torch::tensor({-1.0f, -1.0f, 2.0f, 4.0f});
  std::vector<ModelParams> ps(2);
  ps[0].density = ps[1].density = 0.5;
  // Trimmed: (0,-2,3,0) and (0,0,2,4); sum (0,-2,5,4) elects (+,-,+,+); mean of agreeing entries.
  CHECK(torch::allclose(merge_one("ties", base, {a, b}, ps), torch::tensor({0.0f, -2.0f, 2.5f, 4.0f})));
  MethodOptions o;
  o.lambda = 2.0;
  o.normalize = false;
  CHECK(torch::allclose(merge_one("ties", base, {a, b}, ps, o), torch::tensor({0.0f, -4.0f, 10.0f, 8.0f})));
}

TEST_CASE("breadcrumbs keeps ranks between the outliers and the smallest") {
  torch::Tensor d = torch::arange(1, 11).to(torch::kFloat32);  // magnitudes 1..10
  // density 0.5, gamma 0.1: 5 kept, the top 1 and the bottom 4 removed -> 5,6,7,8,9.
  torch::Tensor s = sparsify_outliers(d, 0.5, 0.1, false);
  CHECK(torch::equal(s, torch::tensor({0.f, 0.f, 0.f, 0.f, 5.f, 6.f, 7.f, 8.f, 9.f, 0.f})));
  torch::Tensor s0 = sparsify_outliers(d, 0.5, 0.0, false);  // gamma 0 keeps the largest half
  CHECK(torch::equal(s0, torch::tensor({0.f, 0.f, 0.f, 0.f, 0.f, 6.f, 7.f, 8.f, 9.f, 10.f})));
  CHECK(torch::equal(sparsify_magnitude(d, 0.3, false), torch::tensor({0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 8.f, 9.f, 10.f})));
}

TEST_CASE("dare and della: keep rates, L1 rescale, seeded") {
  torch::manual_seed(3);
  torch::Tensor d = torch::randn({200, 500});
  torch::Generator g1 = at::detail::createCPUGenerator(7), g2 = at::detail::createCPUGenerator(7);
  torch::Tensor a = sparsify_bernoulli(d, 0.3, true, g1), b = sparsify_bernoulli(d, 0.3, true, g2);
  CHECK(torch::equal(a, b));
  double kept = (a != 0).to(torch::kFloat64).mean().item<double>();
  CHECK(std::fabs(kept - 0.3) < 0.005);
  CHECK(a.abs().sum().item<double>() == doctest::Approx(d.abs().sum().item<double>()).epsilon(1e-4));
  torch::Tensor e = sparsify_della(d, 0.4, 0.1, false, g1);
  double ke = (e != 0).to(torch::kFloat64).mean().item<double>();
  CHECK(std::fabs(ke - 0.4) < 0.01);
  // Larger magnitudes are kept more often (probabilities 0.3 .. 0.5 by rank).
  torch::Tensor big = d.abs() > d.abs().median();
  double kb = (e != 0).logical_and(big).sum().item<double>() / big.sum().item<double>();
  double ks = (e != 0).logical_and(big.logical_not()).sum().item<double>() / big.logical_not().sum().item<double>();
  CHECK(kb > ks + 0.05);
}

TEST_CASE("slerp and model_stock closed forms") {
  torch::Tensor v0 = torch::tensor({1.0f, 0.0f}), v1 = torch::tensor({0.0f, 1.0f});
  MethodOptions o;
  o.t = 0.5;
  CHECK(torch::allclose(merge_one("slerp", v0, {v1}, {}, o), torch::tensor({0.70710678f, 0.70710678f})));
  o.t = 0.0;
  CHECK(torch::allclose(merge_one("slerp", v0, {v1}, {}, o), v0));
  o.t = 1.0;
  CHECK(torch::allclose(merge_one("slerp", v0, {v1}, {}, o), v1, 1e-6, 1e-7));
  torch::Tensor base = torch::zeros({2});
  // Orthogonal task vectors: cos 0, t 0 -> the base; identical ones: t 1 -> their average.
  CHECK(torch::allclose(merge_one("model_stock", base, {v0, v1}), base));
  CHECK(torch::allclose(merge_one("model_stock", base, {v0 * 2, v0 * 2}), v0 * 2));
}

TEST_CASE("merging a model with itself returns it") {
  torch::manual_seed(5);
  torch::Tensor x = torch::randn({64, 33});
  for (const auto& m : method_names()) {
    std::vector<torch::Tensor> xs = m == "slerp" ? std::vector<torch::Tensor>{x.clone()} : std::vector<torch::Tensor>{x.clone(), x.clone()};
    std::vector<ModelParams> ps(xs.size());
    for (auto& p : ps) p.density = m == "della" ? 0.5 : 0.7;
    torch::Tensor r = merge_one(m, x, xs, ps);
    if (m == "linear" || m == "task_arithmetic") CHECK_MESSAGE(torch::equal(r, x), m);
    else CHECK_MESSAGE(torch::allclose(r, x, 1e-6, 1e-7), m);
  }
}

TEST_CASE("method validation") {
  std::vector<ModelParams> one(1), two(2);
  MethodOptions o;
  o.method = "frankenmerge";
  CHECK_THROWS_WITH_AS(validate_method(o, two), doctest::Contains("unknown merge method"), UsageError);
  o.method = "slerp";
  CHECK_THROWS_AS(validate_method(o, two), UsageError);
  o.method = "model_stock";
  CHECK_THROWS_AS(validate_method(o, one), UsageError);
  o.method = "ties";
  two[1].density = 1.5;
  CHECK_THROWS_WITH_AS(validate_method(o, two), doctest::Contains("model 2: density"), UsageError);
  two[1].density = 0.9;
  o.method = "della";
  CHECK_THROWS_AS(validate_method(o, two), UsageError);  // 0.9 + 0.15 >= 1
}

TEST_CASE("sparsification ties follow a stable sort (lower indices first)") {
  torch::Tensor d = torch::tensor({1.f, 3.f, 3.f, 3.f, 2.f, 3.f});
  // Top 2 magnitudes: four 3s tie; a stable descending sort keeps indices 1 and 2.
  CHECK(torch::equal(sparsify_magnitude(d, 2.0 / 6, false), torch::tensor({0.f, 3.f, 3.f, 0.f, 0.f, 0.f})));
  // breadcrumbs density 0.5, gamma 1/6: target 3, top 1 (the last 3 in ascending stable order: index 5),
  // bottom 2 (1 then 2) -> keep indices 1, 2, 3.
  CHECK(torch::equal(sparsify_outliers(d, 0.5, 1.0 / 6 + 1e-9, false), torch::tensor({0.f, 3.f, 3.f, 3.f, 0.f, 0.f})));
}

TEST_CASE("radix selection equals sorting, negative values and ties included") {
  torch::manual_seed(9);
  torch::Tensor x = torch::cat({torch::randn({3, 5000}), torch::zeros({3, 7}), -torch::ones({3, 3})}, 1);
  torch::Tensor sorted = std::get<0>(x.sort(1));
  std::vector<float> mx;
  auto q = row_ranks(x, {0, 1, 2500, 5009}, &mx);
  for (int64_t r = 0; r < 3; ++r) {
    CHECK(q[r][0] == sorted[r][0].item<float>());
    CHECK(q[r][1] == sorted[r][1].item<float>());
    CHECK(q[r][2] == sorted[r][2500].item<float>());
    CHECK(q[r][3] == sorted[r][5009].item<float>());
    CHECK(mx[r] == sorted[r][5009].item<float>());
  }
}

TEST_CASE("mix_linear by hand, across block boundaries, with and without a base") {
  const int64_t count = 5000;  // more than one 2048-value block, and a partial one
  std::vector<float> base(count), a(count), b(count), out(count);
  for (int64_t j = 0; j < count; ++j) {
    base[j] = static_cast<float>(j % 7);
    a[j] = base[j] + 1.0f;
    b[j] = base[j] - 0.5f * static_cast<float>(j % 3);
  }
  // base + 0.5 * (2 * 1 + 1 * (-0.5 (j % 3))) / 4
  mix_linear(base.data(), {a.data(), b.data()}, {2.0f, 1.0f}, 0.5f, 4.0f, count, out.data());
  for (int64_t j = 0; j < count; j += 997) CHECK(out[j] == doctest::Approx(base[j] + 0.5 * (2.0 - 0.5 * (j % 3)) / 4));
  CHECK(out[count - 1] == doctest::Approx(base[count - 1] + 0.5 * (2.0 - 0.5 * ((count - 1) % 3)) / 4));
  // No base: lambda * (2 a + b) / 3.
  mix_linear(nullptr, {a.data(), b.data()}, {2.0f, 1.0f}, 1.0f, 3.0f, count, out.data());
  for (int64_t j = 0; j < count; j += 1001) CHECK(out[j] == doctest::Approx((2.0 * a[j] + b[j]) / 3));
  // linear_mix: linear normalises by the weight sum; task arithmetic only when asked.
  MethodOptions o;
  o.method = "linear";
  std::vector<ModelParams> ps(2);
  ps[0].weight = 1.5;
  ps[1].weight = 0.5;
  LinearMix m = linear_mix(o, ps);
  CHECK(m.divisor == 2.0f);
  CHECK(m.lambda == 1.0f);
  o.method = "task_arithmetic";
  o.lambda = 0.3;
  m = linear_mix(o, ps);
  CHECK(m.divisor == 1.0f);
  CHECK(m.lambda == doctest::Approx(0.3));
  o.normalize = true;
  CHECK(linear_mix(o, ps).divisor == 2.0f);
}

namespace {
// Bitwise equality (signed zeros and NaN payloads included).
bool same_bits(const torch::Tensor& a, const torch::Tensor& b) {
  return a.sizes() == b.sizes() && torch::equal(a.contiguous().view(torch::kInt32), b.contiguous().view(torch::kInt32));
}
}  // namespace

TEST_CASE("the CPU kernel of the sparsifying methods writes the bytes of the LibTorch formulation") {
  // Values rounded to a coarse grid: many equal magnitudes (selection ties), exact zeros, signed
  // zeros, cancelling sums in the sign election.
  torch::manual_seed(11);
  const std::vector<std::vector<int64_t>> shapes = {{64, 33}, {1000}, {4, 5, 6}, {3, 70001}, {1}};
  for (const auto& shape : shapes) {
    for (int n : {3, 17}) {
      torch::Tensor base = (torch::randn(shape) * 4).round() / 4;
      std::vector<torch::Tensor> xs;
      for (int i = 0; i < n; ++i) xs.push_back(base + (torch::randn(shape) * 3).round() / 8);
      for (const auto& m : method_names()) {
        if (!method_is_gta(m)) continue;
        for (int variant = 0; variant < 4; ++variant) {
          MethodOptions o;
          o.method = m;
          o.lambda = variant == 3 ? 0.7 : 1.0;
          if (variant == 1) o.rescale = !method_defaults(m).second;
          if (variant == 2) o.normalize = !method_defaults(m).first;
          std::vector<ModelParams> ps(n);
          for (int i = 0; i < n; ++i) {
            ps[i].weight = i % 3 == 2 ? -0.5 : 1.0 + 0.25 * i;
            ps[i].density = i == 1 ? 1.0 : 0.3;
            ps[i].gamma = 0.05;
            ps[i].epsilon = 0.1;
          }
          validate_method(o, ps);
          torch::Generator g1 = at::detail::createCPUGenerator(5), g2 = at::detail::createCPUGenerator(5);
          torch::Tensor fast = merge_tensor(o, base, xs, ps, g1), ref = merge_tensor_torch(o, base, xs, ps, g2);
          CHECK_MESSAGE(same_bits(fast, ref), m << " variant " << variant << " n " << n << " shape " << torch::IntArrayRef(shape)
                                                << " max diff " << (fast - ref).abs().max().item<double>());
        }
      }
    }
  }
}

TEST_CASE("della ranks along dim 1, as mergekit: rows of a matrix, dim 1 of a 3-d tensor for each other index") {
  // [2, 3, 2]: along dim 1 for (i, :, k). Magnitudes of (0, :, 0) are 3, 1, 2 -> ranks 3, 1, 2 ->
  // normalised 1, 0, 0.5 -> probabilities 0.4 + 0.2 x (1, 0, 0.5) for density 0.5, epsilon 0.1.
  torch::Tensor d = torch::tensor({3.f, -10.f, -1.f, 20.f, 2.f, 30.f, 1.f, 1.f, 2.f, 3.f, 3.f, 2.f}).reshape({2, 3, 2});
  torch::Tensor p = della_probabilities(d, 0.5, 0.1).reshape({2, 3, 2});
  CHECK(p[0][0][0].item<float>() == doctest::Approx(0.6));
  CHECK(p[0][1][0].item<float>() == doctest::Approx(0.4));
  CHECK(p[0][2][0].item<float>() == doctest::Approx(0.5));
  // (0, :, 1): 10, 20, 30 -> 0.4, 0.5, 0.6; (1, :, 1): 1, 3, 2 -> 0.4, 0.6, 0.5.
  CHECK(p[0][0][1].item<float>() == doctest::Approx(0.4));
  CHECK(p[0][2][1].item<float>() == doctest::Approx(0.6));
  CHECK(p[1][1][1].item<float>() == doctest::Approx(0.6));
  CHECK(p[1][2][1].item<float>() == doctest::Approx(0.5));
  // A matrix: along each row; a vector: one row.
  torch::Tensor m = della_probabilities(torch::tensor({1.f, 3.f, 2.f, 6.f, 5.f, 4.f}).reshape({2, 3}), 0.5, 0.1).reshape({2, 3});
  CHECK(m[0][1].item<float>() == doctest::Approx(0.6));
  CHECK(m[1][0].item<float>() == doctest::Approx(0.6));
  torch::Tensor v = della_probabilities(torch::tensor({1.f, 3.f, 2.f}), 0.5, 0.1).flatten();
  CHECK(v[0].item<float>() == doctest::Approx(0.4));
  CHECK(v[1].item<float>() == doctest::Approx(0.6));
  // A single entry along dim 1: density - epsilon (mergekit divides 0 by 0 there).
  CHECK(della_probabilities(torch::ones({4, 1}), 0.5, 0.1).eq(0.4f).all().item<bool>());
}

TEST_CASE("mergekit's edge cases: slerp with an all-zero tensor, model_stock with zero, tiny and opposite offsets") {
  // slerp: an all-zero vector is not normalised (mergekit's normalize() leaves norms <= 1e-8), so the
  // dot product is 0 and the interpolation spherical: sin(t pi / 2) v1, not the linear t v1.
  torch::Tensor zero = torch::zeros({3}), v1 = torch::tensor({1.0f, -2.0f, 2.0f});
  MethodOptions o;
  o.t = 0.3;
  CHECK(torch::allclose(merge_one("slerp", zero, {v1}, {}, o), std::sin(0.3 * M_PI / 2) * v1, 1e-6, 1e-7));
  // Both zero: zero.
  CHECK(torch::equal(merge_one("slerp", zero, {zero}, {}, o), zero));
  // model_stock: cos = dot / max(|a| |b|, 1e-6). A zero offset: cos 0, t 0 -> the base.
  torch::Tensor base = torch::tensor({1.0f, 1.0f});
  CHECK(torch::allclose(merge_one("model_stock", base, {base + torch::tensor({2.0f, 0.0f}), base.clone()}), base));
  // Two equal tiny offsets (norm 1e-4 each): cos = 1e-8 / 1e-6 = 0.01, t = 2 (0.01) / 1.01.
  torch::Tensor tiny = torch::tensor({1e-4f, 0.0f}, torch::kFloat32);
  torch::Tensor zb = torch::zeros({2});
  const double t = 0.02 / 1.01;
  CHECK(torch::allclose(merge_one("model_stock", zb, {tiny, tiny}), t * tiny, 1e-5, 1e-12));
  // Opposite offsets: mean cos -1, mergekit divides by zero; the limit is the base.
  torch::Tensor r = merge_one("model_stock", base, {base + torch::tensor({1.0f, 0.0f}), base - torch::tensor({1.0f, 0.0f})});
  CHECK(torch::isfinite(r).all().item<bool>());
  CHECK(torch::allclose(r, base));
}

TEST_CASE("breadcrumbs with fewer than 1/gamma entries and ties with density x size < 1 (documented deviations)") {
  // 10 entries, gamma 0.01: no outlier to drop (int(0.1) = 0). mergekit slices [n_bot:-0], which is
  // empty, and drops the whole task vector; we keep the int(density n) largest.
  torch::Tensor d = torch::arange(1, 11).to(torch::kFloat32);
  CHECK(torch::equal(sparsify_outliers(d, 0.3, 0.01, false), torch::tensor({0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 8.f, 9.f, 10.f})));
  // ties: int(0.05 x 10) = 0 entries kept (mergekit asserts): the task vector vanishes, the merge of
  // that tensor is the base.
  CHECK(torch::equal(sparsify_magnitude(d, 0.05, false), torch::zeros({10})));
  std::vector<ModelParams> ps(2);
  ps[0].density = ps[1].density = 0.05;
  torch::Tensor base = torch::ones({10});
  CHECK(torch::equal(merge_one("ties", base, {base + d, base - d}, ps), base));
}

TEST_CASE("breadcrumbs_ties and della_linear: mergekit's sparsification with the other mixing") {
  torch::Tensor base = torch::zeros({10});
  torch::Tensor a = torch::arange(1, 11).to(torch::kFloat32), b = -torch::arange(1, 11).to(torch::kFloat32) * 0.5;
  std::vector<ModelParams> ps(2);
  ps[0].density = ps[1].density = 0.5;
  ps[0].gamma = ps[1].gamma = 0.1;
  // Both keep magnitudes ranked 5..9 (values 5..9 and -2.5..-4.5); sums positive -> a's entries win;
  // breadcrumbs_ties does not normalise by default (mergekit): the sum of agreeing entries.
  torch::Tensor want = torch::tensor({0.f, 0.f, 0.f, 0.f, 5.f, 6.f, 7.f, 8.f, 9.f, 0.f});
  CHECK(torch::equal(merge_one("breadcrumbs_ties", base, {a, b}, ps), want));
  // breadcrumbs (linear mixing) adds both.
  CHECK(torch::allclose(merge_one("breadcrumbs", base, {a, b}, ps), want * 0.5));
  CHECK(method_defaults("della_linear") == std::make_pair(false, true));
  CHECK(method_defaults("breadcrumbs_ties") == std::make_pair(false, false));
  CHECK(method_is_random("della_linear"));
}

TEST_CASE("weights and lambdas are finite and bounded") {
  std::vector<ModelParams> two(2);
  MethodOptions o;
  o.method = "ties";
  two[0].weight = 1e308;
  CHECK_THROWS_WITH_AS(validate_method(o, two), doctest::Contains("model 1: weight must be finite with magnitude at most 10000, got 1e+308"), UsageError);
  two[0].weight = 1;
  o.lambda = INFINITY;
  CHECK_THROWS_WITH_AS(validate_method(o, two), doctest::Contains("lambda"), UsageError);
  o.lambda = NAN;
  CHECK_THROWS_AS(validate_method(o, two), UsageError);
  o.lambda = 1;
  two[1].epsilon = -0.1;
  CHECK_THROWS_WITH_AS(validate_method(o, two), doctest::Contains("epsilon must lie in [0, 1)"), UsageError);
}

namespace {
MergeJob config_job(const std::string& json, const std::set<std::string>& keep = {}, MergeJob job = {}) {
  apply_merge_config(nlohmann::json::parse(json), "c.json", job, keep);
  return job;
}
}  // namespace

TEST_CASE("merge configs: a model's own parameters win over the top-level block (mergekit's ConfigReader)") {
  MergeJob j = config_job(R"({"merge_method": "ties", "base_model": "B",
    "models": [{"model": "B"}, {"model": "a", "parameters": {"density": 0.8, "weight": 1.0}}, {"model": "b"}],
    "parameters": {"density": 0.3, "weight": 0.5, "gamma": 0.2, "int8_mask": true}})");
  REQUIRE(j.models == std::vector<std::string>{"a", "b"});  // the base is the reference, not a task
  CHECK(j.params[0].density == 0.8);
  CHECK(j.params[0].weight == 1.0);
  CHECK(j.params[0].gamma == 0.2);
  CHECK(j.params[1].density == 0.3);
  CHECK(j.params[1].weight == 0.5);
}

TEST_CASE("merge configs: linear averages every listed model, the base included") {
  MergeJob j = config_job(R"({"merge_method": "linear", "base_model": "B",
    "models": [{"model": "B", "parameters": {"weight": 0.25}}, {"model": "a", "parameters": {"weight": 0.75}}]})");
  REQUIRE(j.models == std::vector<std::string>{"B", "a"});
  CHECK(j.params[0].weight == 0.25);
  // A base not listed: mergekit adds it with the top-level parameters, and needs a weight there.
  j = config_job(R"({"merge_method": "linear", "base_model": "B", "models": [{"model": "a"}, {"model": "b"}],
    "parameters": {"weight": 2}})");
  CHECK(j.models == std::vector<std::string>{"a", "b", "B"});
  CHECK(j.params[2].weight == 2);
  CHECK_THROWS_WITH_AS(config_job(R"({"merge_method": "linear", "base_model": "B", "models": [{"model": "a"}]})"),
                       doctest::Contains("c.json: base_model: linear averages the base model"), InputError);
  // Without a base: the models as listed.
  j = config_job(R"({"merge_method": "linear", "models": [{"model": "a"}, {"model": "b"}]})");
  CHECK(j.models == std::vector<std::string>{"a", "b"});
}

TEST_CASE("merge configs: flags given on the command line win, --models and a config's models exclude each other") {
  MergeJob flags;
  flags.method.method = "ties";
  flags.method.t = 0.9;
  MergeJob j = config_job(R"({"merge_method": "linear", "parameters": {"t": 0.2}, "models": [{"model": "a"}]})", {"method", "t"}, flags);
  CHECK(j.method.method == "ties");
  CHECK(j.method.t == 0.9);
  j = config_job(R"({"merge_method": "linear", "parameters": {"t": 0.2}, "models": [{"model": "a"}]})", {}, flags);
  CHECK(j.method.method == "linear");
  CHECK(j.method.t == 0.2);
  CHECK_THROWS_WITH_AS(config_job(R"({"models": [{"model": "a"}]})", {"models"}),
                       doctest::Contains("--models and the models of the merge config c.json exclude each other"), UsageError);
  // The command line's base decides which listed model is the reference.
  flags.base = "a";
  j = config_job(R"({"merge_method": "ties", "base_model": "B", "models": [{"model": "a"}, {"model": "B"}]})", {"base"}, flags);
  CHECK(j.base == "a");
  CHECK(j.models == std::vector<std::string>{"B"});
}

TEST_CASE("merge configs: values checked by field, per-model lambdas for pcb only") {
  CHECK_THROWS_WITH_AS(config_job(R"({"models": [{"model": "a", "parameters": {"weight": 1e308}}]})"),
                       doctest::Contains("c.json: models[0].parameters.weight: expected a number in [-10000, 10000], got 1e+308"), InputError);
  CHECK_THROWS_WITH_AS(config_job(R"({"parameters": {"lambda": -1e5}})"), doctest::Contains("parameters.lambda"), InputError);
  CHECK_THROWS_WITH_AS(config_job(R"({"parameters": {"int8_mask": "yes"}})"), doctest::Contains("parameters.int8_mask: expected true or false"), InputError);
  CHECK_THROWS_WITH_AS(config_job(R"({"parameters": {"density": 0}})"), doctest::Contains("parameters.density"), InputError);
  CHECK_THROWS_WITH_AS(config_job(R"({"merge_method": "ties", "models": [{"model": "a", "parameters": {"lambda": 2}}]})"),
                       doctest::Contains("a lambda per model is for pcb"), InputError);
  CHECK_THROWS_WITH_AS(config_job(R"({"slices": []})"), doctest::Contains("c.json: slices: not supported"), InputError);
  MergeJob j = config_job(R"({"merge_method": "pcb", "parameters": {"lambda": 0.5},
    "models": [{"model": "a", "parameters": {"lambda": 2}}, {"model": "b"}]})");
  CHECK(j.method.pcb.lambdas == std::vector<double>{2, 0.5});
}

TEST_CASE("lambda grids are bounded before anything is allocated") {
  CHECK(parse_grid("0.8:1.2:0.2") == std::vector<double>{0.8, 1.0, 1.2});
  CHECK(parse_grid("1,1.5") == std::vector<double>{1, 1.5});
  CHECK_THROWS_WITH_AS(parse_grid("0:1e9:1e-9"), doctest::Contains("--lambda-grid: 1e+09 is out of range"), UsageError);
  CHECK_THROWS_WITH_AS(parse_grid("0:1000:1e-9"), doctest::Contains("--lambda-grid: 1e+12 values; at most 10000"), UsageError);
  CHECK_THROWS_WITH_AS(parse_grid("0:2e4:1"), doctest::Contains("--lambda-grid: 20000 is out of range"), UsageError);
  CHECK_THROWS_AS(parse_grid("1,x"), UsageError);
  CHECK_THROWS_AS(parse_grid("1:0:0.1"), UsageError);
  CHECK_THROWS_AS(parse_grid("0:1:0"), UsageError);
  std::string many = "1";
  for (int i = 0; i < kMaxCandidates; ++i) many += ",1";
  CHECK_THROWS_WITH_AS(parse_grid(many), doctest::Contains("at most 10000"), UsageError);
}

TEST_CASE("outputs checked before any work: a user's folder, a file where a folder goes") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("pk-merge-out-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "user");
  std::ofstream(dir / "user" / "notes.txt") << "mine";
  fs::create_directories(dir / "empty");
  fs::create_directories(dir / "prev");
  std::ofstream(dir / "prev" / "model.safetensors") << "x";
  std::ofstream(dir / "afile") << "x";
  CHECK_THROWS_WITH_AS(check_output(dir / "user", "-o/--output"), doctest::Contains("an existing folder that holds no model"), UsageError);
  CHECK_THROWS_WITH_AS(check_output(dir / "afile", "-o/--output"), doctest::Contains("a file exists there"), UsageError);
  CHECK_NOTHROW(check_output(dir / "empty", "-o/--output"));
  CHECK_NOTHROW(check_output(dir / "prev", "-o/--output"));
  CHECK_NOTHROW(check_output(dir / "new", "-o/--output"));
  CHECK_NOTHROW(check_output(dir / "afile.safetensors", "-o/--output"));
  fs::remove_all(dir);
}

TEST_CASE("exclude patterns: * any run of characters, ? one character") {
  using merge::name_matches;
  CHECK(name_matches("head.*", "head.weight"));
  CHECK(name_matches("head.*", "head."));
  CHECK_FALSE(name_matches("head.*", "trunk.head.weight"));
  CHECK(name_matches("*.head.*", "trunk.head.weight"));
  CHECK(name_matches("*bias", "trunk.layers.0.bias"));
  CHECK(name_matches("layers.?.weight", "layers.2.weight"));
  CHECK_FALSE(name_matches("layers.?.weight", "layers.10.weight"));
  CHECK(name_matches("*", ""));
  CHECK(name_matches("a*b*c", "aXbYbZc"));
  CHECK_FALSE(name_matches("a*b*c", "aXbYbZ"));
  CHECK(name_matches("classifier", "classifier"));
  CHECK_FALSE(name_matches("classifier", "classifier.weight"));
}
