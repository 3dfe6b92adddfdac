// Continual learning (cl/): the spec's accuracy-matrix example, reservoir sampling's uniformity, herding
// on a hand-computed set, EWC's Fisher on a hand-computed case, disjoint scenarios, and the class-IL
// facts on a small Split-MNIST-like problem.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include <cmath>
#include <set>

#include "paramkit/cl/learner.h"
#include "paramkit/cl/metrics.h"
#include "paramkit/cl/scenario.h"
#include "paramkit/core/error.h"

using namespace paramkit;
using namespace paramkit::cl;

TEST_CASE("accuracy matrix metrics: the spec's example") {
  const AccuracyMatrix a = {{0.9}, {0.6, 0.8}, {0.5, 0.7, 0.9}};
  CHECK(final_accuracy(a) == doctest::Approx(0.70));
  CHECK(average_incremental_accuracy(a) == doctest::Approx(0.766666667));
  CHECK(forgetting(a) == doctest::Approx(0.25));
  CHECK(backward_transfer(a) == doctest::Approx(-0.25));
  CHECK(forgetting({{0.8}}) == 0);
  CHECK_THROWS_AS(final_accuracy({{0.9}, {0.6}}), UsageError);
  CHECK_THROWS_AS(final_accuracy({{1.5}}), UsageError);
}

TEST_CASE("reservoir sampling keeps every item seen with probability capacity / seen") {
  const int64_t capacity = 10, stream = 100, trials = 20000;
  std::vector<int64_t> kept(stream, 0);
  Rng rng(3);
  for (int64_t r = 0; r < trials; ++r) {
    std::vector<int64_t> buf(capacity, -1);
    for (int64_t i = 0; i < stream; ++i) {
      const int64_t s = reservoir_slot(i, capacity, rng);
      if (s >= 0) buf[s] = i;
    }
    for (int64_t v : buf) ++kept[v];
  }
  // each item: binomial(trials, 0.1): mean 2000, sd 42.4; a chi-square over the 100 items
  double chi2 = 0;
  for (int64_t c : kept) chi2 += (c - 2000.0) * (c - 2000.0) / (2000.0 * 0.9);
  CHECK(chi2 < 150);  // 99 degrees of freedom: p < 0.001 above 148
  CHECK(chi2 > 55);   // and not suspiciously regular
  CHECK(reservoir_slot(3, 10, rng) == 3);
  CHECK(reservoir_slot(5, 0, rng) == -1);
}

TEST_CASE("herding picks the hand-computed exemplars") {
  // points on a line: 0, 1, 2, 10; mean 3.25. k=1: the closest to 3.25 is 2; k=2: (2 + x)/2 closest to
  // 3.25 -> x = 4.5: candidates 0 (1), 1 (1.5), 10 (6) -> 1.5 is |1.5-3.25| = 1.75, 6 is 2.75, 1 is 2.25: pick 1;
  // k=3: (3 + x)/3 -> x = 6.75: 0 -> 1, 10 -> 4.33: |4.33 - 3.25| = 1.08 < 2.25: pick 10.
  const torch::Tensor f = torch::tensor({0.0, 1.0, 2.0, 10.0}).view({4, 1});
  CHECK(herding(f, 3) == std::vector<int64_t>{2, 1, 3});
  CHECK(herding(f, 10).size() == 4);
}

TEST_CASE("EWC's diagonal Fisher against a hand-computed case") {
  // a linear 2-class model with weight w (2 x 1), no bias, input x = 1: logits (w0, w1); with w = 0 the
  // probabilities are (1/2, 1/2); d log p(y=0) / d w = (1 - 1/2, -1/2) x -> squared (1/4, 1/4).
  torch::nn::Linear l(torch::nn::LinearOptions(1, 2).bias(false));
  {
    torch::NoGradGuard g;
    l->weight.zero_();
  }
  const torch::Tensor x = torch::ones({2, 1}) * torch::tensor({1.0, 2.0}).view({2, 1});
  const torch::Tensor y = torch::tensor({0, 1}, torch::kInt64);
  const auto f = diagonal_fisher(*l, [&](torch::Tensor v) { return l->forward(v); }, x, y);
  // example 1 (x = 1): (1/4, 1/4); example 2 (x = 2, y = 1): grads (-1/2, 1/2) x 2 -> (1, 1); mean (0.625, 0.625)
  CHECK(f[0][0][0].item<double>() == doctest::Approx(0.625));
  CHECK(f[0][1][0].item<double>() == doctest::Approx(0.625));
}

namespace {
// A small MNIST-like set: 10 classes, 8x8 images with a class-specific bright pixel pattern and noise.
Dataset toy(int64_t per_class, uint64_t seed) {
  std::vector<torch::Tensor> xs, ys;
  for (int64_t c = 0; c < 10; ++c) {
    torch::manual_seed(100 + c);  // the class's template: the same in every split
    const torch::Tensor tmpl = torch::bernoulli(torch::full({8, 8}, 0.3));
    torch::manual_seed(seed * 10 + c);
    xs.push_back(tmpl.unsqueeze(0) * 0.7 + torch::rand({per_class, 8, 8}) * 0.3);
    ys.push_back(torch::full({per_class}, c, torch::kInt64));
  }
  return {torch::cat(xs), torch::cat(ys)};
}
}  // namespace

TEST_CASE("scenarios: Split tasks partition the classes, D_HT and D_E are disjoint, permuted tasks permute pixels") {
  const Dataset train = toy(40, 1), test = toy(10, 2);
  ScenarioSpec s;
  s.part = "ht";
  const Scenario ht = build_scenario(s, train, test);
  s.part = "e";
  const Scenario e = build_scenario(s, train, test);
  REQUIRE(ht.tasks.size() == 5);
  CHECK(ht.class_order == e.class_order);  // the same scenario configuration
  std::set<int64_t> units;
  int64_t rows_ht = 0, rows_e = 0;
  for (size_t t = 0; t < 5; ++t) {
    for (int64_t u : {ht.tasks[t].train.y.min().item<int64_t>(), ht.tasks[t].train.y.max().item<int64_t>()}) units.insert(u);
    CHECK(ht.tasks[t].train.y.min().item<int64_t>() == static_cast<int64_t>(2 * t));
    rows_ht += ht.tasks[t].train.size();
    rows_e += e.tasks[t].train.size();
    // no training image of D_HT appears in D_E
    const torch::Tensor a = ht.tasks[t].train.x.reshape({ht.tasks[t].train.size(), -1}), b = e.tasks[t].train.x.reshape({e.tasks[t].train.size(), -1});
    CHECK(torch::cdist(a, b).min().item<double>() > 0);
  }
  CHECK(units.size() == 10);
  CHECK(rows_ht + rows_e == 400);
  // disjoint class sets: D_HT and D_E use different original classes
  s.disjoint = "classes";
  s.tasks = 2;
  s.part = "ht";
  const Scenario cht = build_scenario(s, train, test);
  s.part = "e";
  const Scenario ce = build_scenario(s, train, test);
  std::set<int64_t> a(cht.class_order.begin(), cht.class_order.end());
  for (int64_t c : ce.class_order) CHECK(a.count(c) == 0);
  s.tasks = 3;
  CHECK_THROWS_AS(build_scenario(s, train, test), UsageError);  // 6 classes from a set of 5
  ScenarioSpec p;
  p.kind = "permuted";
  p.setting = "domain";
  p.tasks = 3;
  const Scenario perm = build_scenario(p, train, test);
  CHECK(torch::equal(perm.tasks[0].train.x, train.x));
  CHECK_FALSE(torch::equal(perm.tasks[1].train.x, train.x));
  CHECK(torch::allclose(std::get<0>(perm.tasks[1].train.x.reshape({400, -1}).sort(1)), std::get<0>(train.x.reshape({400, -1}).sort(1))));
  ScenarioSpec bad;
  bad.kind = "permuted";
  CHECK_THROWS_AS(bad.validate(), UsageError);  // permuted is domain-incremental
}

TEST_CASE("class-IL on a toy Split problem: finetune forgets, joint does not, replay sits between") {
  const Dataset train = toy(60, 3), test = toy(20, 4);
  ScenarioSpec s;
  const Scenario sc = build_scenario(s, train, test);
  auto run = [&](const std::string& name) {
    AlgoSpec a;
    a.name = name;
    a.hidden = {64};
    a.epochs = 3;
    a.memory = 50;
    a.hypers["lr"] = 0.1;
    return run_continual(sc, a, 0, {}).accuracy;
  };
  const AccuracyMatrix ft = run("finetune"), joint = run("joint"), replay = run("replay");
  CHECK(final_accuracy(ft) < 0.3);
  CHECK(forgetting(ft) > 0.8);
  CHECK(final_accuracy(joint) > 0.9);
  CHECK(final_accuracy(replay) > final_accuracy(ft) + 0.2);
  for (const std::string n : {"ewc", "lwf", "icarl", "wa", "der", "derpp"}) {
    CAPTURE(n);
    const AccuracyMatrix m = run(n);
    CHECK(m.size() == 5);
    CHECK(final_accuracy(m) >= 0);
  }
}

TEST_CASE("algorithm specs: unknown names and hyperparameters, values outside their ranges are usage errors") {
  AlgoSpec a;
  a.name = "gem";
  CHECK_THROWS_AS(a.validate(), UsageError);
  a.name = "ewc";
  a.hypers["lwf.alpha"] = 1;
  CHECK_THROWS_AS(a.validate(), UsageError);
  a.hypers = {{"ewc.lambda", 1e9}};
  CHECK_THROWS_AS(a.validate(), UsageError);
  a.hypers = {{"ewc.lambda", 10}};
  CHECK_NOTHROW(a.validate());
  a.name = "replay";
  a.hypers.clear();
  a.memory = 0;
  CHECK_THROWS_AS(a.validate(), UsageError);
}
