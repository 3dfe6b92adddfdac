// Merge methods: PCB against a direct transcription of the reference code (full sorts, as in
// pcb-merging.py), hand-computed cases for mergekit's methods, and the properties of the spec.
#include <doctest/doctest.h>

#include <torch/torch.h>

#include <cmath>

#include "paramkit/core/error.h"
#include "paramkit/merge/methods.h"

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
