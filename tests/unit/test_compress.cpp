// Randomized parameter sharing (compress/rps.h): the mappers' defining properties, the gather and
// scatter-add against a dense matrix built from the map and against finite differences, and the
// STABLE-RPS gradient scaler.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "paramkit/compress/prune.h"
#include "paramkit/compress/rps.h"
#include "paramkit/core/error.h"
#include "paramkit/lm/model.h"
#include "paramkit/nn/models.h"

using namespace paramkit;
using namespace paramkit::compress;

namespace {
const std::vector<std::pair<std::string, std::vector<int64_t>>> kShapes = {{"a.weight", {30, 40}}, {"b.weight", {17, 9}}, {"c.weight", {4, 3, 5, 5}}};
int64_t total() { return 30 * 40 + 17 * 9 + 4 * 3 * 5 * 5; }  // 1653
std::vector<int64_t> loads(const std::vector<LayerMap>& maps, int64_t m) {
  std::vector<int64_t> n(static_cast<size_t>(m), 0);
  for (const auto& lm : maps)
    for (int32_t s : lm.slot) ++n[s];
  return n;
}
torch::nn::Sequential small_mlp() {
  torch::manual_seed(3);
  return torch::nn::Sequential(torch::nn::Flatten(), torch::nn::Linear(12, 10), torch::nn::Tanh(), torch::nn::Linear(10, 3));
}
}  // namespace

TEST_CASE("RANDOMFOLD: a bijection at 1x, slot loads within one of each other at any compression") {
  const auto one = build_maps(Mapper::rps, kShapes, total(), 5);
  const auto n1 = loads(one, total());
  CHECK(std::all_of(n1.begin(), n1.end(), [](int64_t c) { return c == 1; }));
  for (int64_t m : {1000, 827, 100, 7, 1}) {
    CAPTURE(m);
    const auto n = loads(build_maps(Mapper::rps, kShapes, m, 5), m);
    const auto [lo, hi] = std::minmax_element(n.begin(), n.end());
    CHECK(*hi - *lo <= 1);
  }
  // HashedNet at 1x is not a bijection (collisions), which is what RANDOMFOLD fixes
  const auto nh = loads(build_maps(Mapper::hashednet, kShapes, total(), 5), total());
  CHECK(*std::max_element(nh.begin(), nh.end()) > 1);
}

TEST_CASE("every mapper is regenerated exactly from its seed, another seed gives another map") {
  for (Mapper k : {Mapper::hashednet, Mapper::roast, Mapper::rps}) {
    CAPTURE(mapper_name(k));
    const auto a = build_maps(k, kShapes, 300, 11), b = build_maps(k, kShapes, 300, 11), c = build_maps(k, kShapes, 300, 12);
    bool differs = false;
    for (size_t l = 0; l < a.size(); ++l) {
      CHECK(a[l].slot == b[l].slot);
      CHECK(a[l].sign == b[l].sign);
      differs = differs || a[l].slot != c[l].slot;
      for (int32_t s : a[l].slot) CHECK_UNARY(s >= 0 && s < 300);
    }
    CHECK(differs);
  }
  CHECK_THROWS_AS(parse_mapper("roasted", "--method"), UsageError);
}

TEST_CASE("ROAST: each 32x32 block is one contiguous run of the shared array") {
  const auto maps = build_maps(Mapper::roast, {{"w.weight", {70, 100}}}, 5000, 2);
  const auto& s = maps[0].slot;
  for (int64_t r = 0; r < 70; ++r)
    for (int64_t c = 0; c < 100; ++c) {
      const int64_t br = r / 32 * 32, bc = c / 32 * 32;  // the block's first element
      const int64_t want = (s[br * 100 + bc] + (r - br) * 32 + (c - bc)) % 5000;
      if (s[r * 100 + c] != want) FAIL("element (" << r << ", " << c << ") is not at its block's offset");
    }
}

TEST_CASE("gather and scatter-add: W = M z and z.grad = M^T dL/dW against the map's dense matrix and finite differences") {
  for (Mapper k : {Mapper::hashednet, Mapper::roast, Mapper::rps}) {
    CAPTURE(mapper_name(k));
    auto net = small_mlp();
    ShareSpec spec;
    spec.mapper = k;
    spec.compression = 0.3;
    spec.grad_scaler = false;
    spec.block = 4;
    SharedWeights s(*net, spec);
    CHECK(s.shared_count() == 12 * 10 + 10 * 3);
    CHECK(s.slots() == 45);
    CHECK(s.dense_count() == 13);
    s.load();
    const torch::Tensor M = s.materialize();
    const torch::Tensor w = torch::cat({net->named_parameters()["1.weight"].detach().reshape(-1), net->named_parameters()["3.weight"].detach().reshape(-1)});
    CHECK(torch::allclose(w, torch::mv(M, s.z().detach()), 1e-6, 1e-7));
    const torch::Tensor x = torch::randn({6, 12}), y = torch::randint(0, 3, {6}, torch::kInt64);
    auto loss_at = [&](const torch::Tensor& z) {
      torch::NoGradGuard g;
      torch::Tensor keep = s.z().detach().clone();
      s.z().detach().copy_(z);
      s.load();
      const double l = torch::nn::functional::cross_entropy(net->forward(x), y).item<double>();
      s.z().detach().copy_(keep);
      s.load();
      return l;
    };
    torch::Tensor loss = torch::nn::functional::cross_entropy(net->forward(x), y);
    loss.backward();
    const torch::Tensor gw = torch::cat({net->named_parameters()["1.weight"].grad().reshape(-1), net->named_parameters()["3.weight"].grad().reshape(-1)});
    s.backward();
    CHECK_FALSE(net->named_parameters()["1.weight"].grad().defined());  // moved onto z
    CHECK(net->named_parameters()["1.bias"].grad().defined());           // dense: trains as usual
    CHECK(torch::allclose(s.z().grad(), torch::mv(M.t(), gw), 1e-5, 1e-6));
    for (int64_t j : {0, 7, 44}) {  // central differences; z is small (init_std), its scale large
      const double h = 1e-3;
      torch::Tensor zp = s.z().detach().clone(), zm = s.z().detach().clone();
      zp[j] += h;
      zm[j] -= h;
      const double fd = (loss_at(zp) - loss_at(zm)) / (2 * h);
      CHECK(std::abs(fd - s.z().grad()[j].item<double>()) < 1e-2 * std::max(1.0, std::abs(fd)));
    }
  }
}

TEST_CASE("at 1x with the gradient scaler, 100 SGD steps on z equal dense SGD on W within 1e-5") {
  auto shared = small_mlp();
  ShareSpec spec;
  spec.mapper = Mapper::rps;
  spec.compression = 1;
  SharedWeights s(*shared, spec);
  s.load();
  auto dense = small_mlp();
  {
    torch::NoGradGuard g;
    for (auto& p : dense->named_parameters()) p.value().copy_(shared->named_parameters()[p.key()]);
  }
  std::vector<torch::Tensor> sp;
  for (auto& [name, t] : s.trainable()) sp.push_back(t);
  torch::optim::SGD os(sp, torch::optim::SGDOptions(0.05));
  torch::optim::SGD od(dense->parameters(), torch::optim::SGDOptions(0.05));
  torch::manual_seed(9);
  for (int step = 0; step < 100; ++step) {
    const torch::Tensor x = torch::randn({16, 12}), y = torch::randint(0, 3, {16}, torch::kInt64);
    s.load();
    os.zero_grad();
    torch::nn::functional::cross_entropy(shared->forward(x), y).backward();
    s.backward();
    os.step();
    od.zero_grad();
    torch::nn::functional::cross_entropy(dense->forward(x), y).backward();
    od.step();
  }
  s.load();
  double worst = 0;
  for (auto& p : dense->named_parameters()) worst = std::max(worst, (p.value() - shared->named_parameters()[p.key()]).abs().max().item<double>());
  CHECK(worst < 1e-5);
  // without the scaler the steps differ (ROAST's sensitivity to init_std)
  auto other = small_mlp();
  spec.grad_scaler = false;
  SharedWeights u(*other, spec);
  CHECK(std::all_of(u.scaler().begin(), u.scaler().end(), [](float f) { return f == 1.0f; }));
}

TEST_CASE("with the gradient scaler, init_std in {1e-3, 1e-2, 1e-1} ends within 1% accuracy") {
  torch::manual_seed(4);
  const torch::Tensor x = torch::randn({400, 12});
  const torch::Tensor y = (x.slice(1, 0, 3).argmax(1));
  std::vector<double> acc;
  for (double init_std : {1e-3, 1e-2, 1e-1}) {
    auto net = small_mlp();
    ShareSpec spec;
    spec.compression = 0.5;
    spec.init_std = init_std;
    spec.seed = 1;
    SharedWeights s(*net, spec);
    std::vector<torch::Tensor> ps;
    for (auto& [name, t] : s.trainable()) ps.push_back(t);
    torch::optim::SGD opt(ps, torch::optim::SGDOptions(0.2));
    for (int step = 0; step < 300; ++step) {
      s.load();
      opt.zero_grad();
      torch::nn::functional::cross_entropy(net->forward(x), y).backward();
      s.backward();
      opt.step();
    }
    s.load();
    acc.push_back((net->forward(x).argmax(1) == y).to(torch::kFloat64).mean().item<double>());
  }
  CAPTURE(acc[0]);
  CAPTURE(acc[1]);
  CAPTURE(acc[2]);
  CHECK(acc[1] > 0.8);  // it learned
  CHECK(*std::max_element(acc.begin(), acc.end()) - *std::min_element(acc.begin(), acc.end()) <= 0.01);
}

TEST_CASE("shared weights: bad specs are usage errors") {
  auto net = small_mlp();
  ShareSpec spec;
  spec.compression = 0;
  CHECK_THROWS_WITH_AS(SharedWeights(*net, spec), doctest::Contains("--compression"), UsageError);
  spec.compression = 1.5;
  CHECK_THROWS_AS(SharedWeights(*net, spec), UsageError);
  spec.compression = std::nan("");
  CHECK_THROWS_AS(SharedWeights(*net, spec), UsageError);
  spec.compression = 0.5;
  spec.init_std = 0;
  CHECK_THROWS_AS(SharedWeights(*net, spec), UsageError);
  torch::nn::Sequential no_weights{torch::nn::Tanh()};
  spec.init_std = 0.01;
  CHECK_THROWS_WITH_AS(SharedWeights(*no_weights, spec), doctest::Contains("no weight"), UsageError);
}

TEST_CASE("pruning masks keep exactly the requested count, the highest scores, ties by position") {
  const std::vector<torch::Tensor> s = {torch::tensor({3.f, 1.f, 2.f, 2.f}).reshape({2, 2}), torch::tensor({2.f, 0.f, 5.f})};
  auto m = top_masks(s, 4);
  CHECK(torch::equal(m[0], torch::tensor({1.f, 0.f, 1.f, 1.f}).reshape({2, 2})));  // 5, 3, then the first two 2s
  CHECK(torch::equal(m[1], torch::tensor({0.f, 0.f, 1.f})));
  for (int64_t keep : {1, 3, 7}) {
    auto mk = top_masks(s, keep);
    CHECK((mk[0].sum() + mk[1].sum()).item().toDouble() == keep);
  }
  CHECK_THROWS_AS(top_masks(s, 0), UsageError);
  CHECK_THROWS_AS(top_masks(s, 8), UsageError);
  auto net = small_mlp();
  const torch::Tensor x = torch::randn({8, 12}), y = torch::randint(0, 3, {8}, torch::kInt64);
  auto fwd = [&](torch::Tensor t) { return net->forward(t); };
  for (Pruner p : {Pruner::mag, Pruner::snip, Pruner::grasp, Pruner::synflow}) {
    CAPTURE(pruner_name(p));
    auto masks = prune_masks(*net, fwd, p, 37, x, y, 10);
    MaskedWeights mw(*net, masks);
    CHECK(mw.kept() == 37);
  }
  // magnitude keeps the largest |theta|
  auto mags = score_magnitude(*net);
  auto mm = top_masks(mags, 10);
  const double smallest_kept = torch::cat({mags[0].masked_select(mm[0] > 0), mags[1].masked_select(mm[1] > 0)}).min().item<double>();
  const double largest_pruned = torch::cat({mags[0].masked_select(mm[0] == 0), mags[1].masked_select(mm[1] == 0)}).max().item<double>();
  CHECK(smallest_kept >= largest_pruned);
}

TEST_CASE("SynFlow scores on a hand-computable network, SNIP is |g theta|, GraSP H g against differences of g") {
  torch::nn::Sequential net{torch::nn::Linear(torch::nn::LinearOptions(2, 2).bias(false)), torch::nn::Linear(torch::nn::LinearOptions(2, 1).bias(false))};
  {
    torch::NoGradGuard g;
    net->named_parameters()["0.weight"].copy_(torch::tensor({1.f, -2.f, 3.f, 0.5f}).reshape({2, 2}));
    net->named_parameters()["1.weight"].copy_(torch::tensor({-1.f, 2.f}).reshape({1, 2}));
  }
  auto fwd = [&](torch::Tensor t) { return net->forward(t); };
  // R = |W2| |W1| 1: dR/d|W1_ij| = |W2_i|, dR/d|W2_i| = sum_j |W1_ij|
  const auto s = score_synflow(*net, fwd, {2});
  CHECK(torch::allclose(s[0], torch::tensor({1.f, 2.f, 6.f, 1.f}).reshape({2, 2})));
  CHECK(torch::allclose(s[1], torch::tensor({3.f, 7.f}).reshape({1, 2})));
  CHECK((net->named_parameters()["0.weight"][0][1].item<float>() == -2.f));  // signs restored
  CHECK((net->named_parameters()["0.weight"].scalar_type() == torch::kFloat32));

  auto mlp = small_mlp();
  auto f2 = [&](torch::Tensor t) { return mlp->forward(t); };
  torch::manual_seed(2);
  const torch::Tensor x = torch::randn({8, 12}), y = torch::randint(0, 3, {8}, torch::kInt64);
  const auto snip = score_snip(*mlp, f2, x, y);
  torch::nn::functional::cross_entropy(mlp->forward(x), y).backward();
  const torch::Tensor w1 = mlp->named_parameters()["1.weight"];
  CHECK(torch::allclose(snip[0], (w1.grad() * w1.detach()).abs()));
  w1.mutable_grad().reset();
  for (auto& p : mlp->parameters())
    if (p.grad().defined()) p.mutable_grad().reset();
  const auto grasp = score_grasp(*mlp, f2, x, y);
  // H g by central differences of the gradient along g
  std::vector<torch::Tensor> ws = {mlp->named_parameters()["1.weight"], mlp->named_parameters()["3.weight"]};
  auto grad_at = [&](double eps, const std::vector<torch::Tensor>& dir) {
    {
      torch::NoGradGuard g;
      for (size_t i = 0; i < ws.size(); ++i) ws[i].add_(dir[i], eps);
    }
    auto g = torch::autograd::grad({torch::nn::functional::cross_entropy(mlp->forward(x), y)}, ws);
    {
      torch::NoGradGuard gg;
      for (size_t i = 0; i < ws.size(); ++i) ws[i].sub_(dir[i], eps);
    }
    return g;
  };
  auto g0 = grad_at(0, {torch::zeros_like(ws[0]), torch::zeros_like(ws[1])});
  for (auto& t : g0) t = t.detach().to(torch::kFloat64);
  std::vector<torch::Tensor> dir = {g0[0].to(torch::kFloat32), g0[1].to(torch::kFloat32)};
  const double eps = 1e-2;
  auto gp = grad_at(eps, dir), gm = grad_at(-eps, dir);
  for (size_t i = 0; i < ws.size(); ++i) {
    const torch::Tensor hg = (gp[i] - gm[i]).to(torch::kFloat64) / (2 * eps);
    const torch::Tensor want = hg * ws[i].detach().to(torch::kFloat64);
    CHECK(torch::allclose(grasp[i].to(torch::kFloat64), want, 1e-2, 1e-4));
  }
}

TEST_CASE("shared weights over convolutional models (LeNet-5, ResNet-20, VGG-11): kernels shared, batch norm dense, z.grad = M^T dL/dW") {
  torch::manual_seed(5);
  std::vector<std::shared_ptr<torch::nn::Module>> models = {nn::LeNet5(1, 10, 28).ptr(), nn::ResNet20(1, 10, 4).ptr(), nn::VGG11(1, 10, 4, 28).ptr()};
  std::vector<std::function<torch::Tensor(torch::Tensor)>> fwds = {
      [m = std::dynamic_pointer_cast<nn::LeNet5Impl>(models[0])](torch::Tensor x) { return m->forward(x); },
      [m = std::dynamic_pointer_cast<nn::ResNet20Impl>(models[1])](torch::Tensor x) { return m->forward(x); },
      [m = std::dynamic_pointer_cast<nn::VGG11Impl>(models[2])](torch::Tensor x) { return m->forward(x); }};
  for (size_t i = 0; i < models.size(); ++i) {
    CAPTURE(i);
    ShareSpec spec;
    spec.compression = 0.1;
    spec.grad_scaler = false;
    SharedWeights s(*models[i], spec);
    s.load();
    const torch::Tensor x = torch::randn({3, 28, 28}), y = torch::randint(0, 10, {3}, torch::kInt64);
    torch::nn::functional::cross_entropy(fwds[i](x), y).backward();
    std::vector<torch::Tensor> gw;
    for (const auto& p : models[i]->named_parameters())
      if (is_shared_weight(p.key(), p.value())) gw.push_back(p.value().grad().reshape(-1).clone());
    s.backward();
    // a few slots against the sum over the weights mapped to them, straight from the maps
    for (int64_t j : {int64_t{0}, s.slots() / 2, s.slots() - 1}) {
      double want = 0;
      for (size_t l = 0; l < s.maps().size(); ++l) {
        const auto& lm = s.maps()[l];
        const float* g = gw[l].data_ptr<float>();
        for (size_t k = 0; k < lm.slot.size(); ++k)
          if (lm.slot[k] == j) want += static_cast<double>(lm.scale) * lm.sign[k] * g[k];
      }
      CHECK(std::abs(s.z().grad()[j].item<double>() - want) <= 1e-4 * std::max(1.0, std::abs(want)));
    }
    CHECK(torch::isfinite(s.z().grad()).all().item<bool>());
    CHECK(s.dense_count() > 0);
  }
}

TEST_CASE("shared weights over rlhf-train's transformer: token and position embeddings and every projection read from z") {
  for (lm::Arch arch : {lm::Arch::gpt2, lm::Arch::llama}) {
    CAPTURE(static_cast<int>(arch));
    const lm::LmConfig cfg = arch == lm::Arch::gpt2 ? lm::LmConfig::gpt2(40, 16, 2, 2, 16) : lm::LmConfig::llama(40, 16, 32, 2, 2, 1, 16);
    lm::CausalLM model(cfg, lm::Head::lm, 7);
    int64_t weights = 0;
    for (const auto& p : model->named_parameters())
      if (is_shared_weight(p.key(), p.value())) weights += p.value().numel();
    const int64_t embeddings = model->embedding_weight().numel();
    ShareSpec spec;
    spec.compression = 0.1;
    spec.grad_scaler = false;
    SharedWeights s(*model, spec);
    CHECK(s.shared_count() == weights);
    CHECK(weights > embeddings);  // the embedding and the projections
    s.load();
    const torch::Tensor M = s.materialize();
    std::vector<torch::Tensor> w;
    for (const auto& p : model->named_parameters())
      if (is_shared_weight(p.key(), p.value())) w.push_back(p.value().detach().reshape(-1));
    CHECK(torch::allclose(torch::cat(w), torch::mv(M, s.z().detach()), 1e-6, 1e-7));
    // the embedding the model reads is one of the gathered tensors, and it changes with z
    bool embedding_shared = false;
    for (const auto& p : model->named_parameters())
      if (is_shared_weight(p.key(), p.value()) && p.value().data_ptr() == model->embedding_weight().data_ptr()) embedding_shared = true;
    CHECK(embedding_shared);
    {
      torch::NoGradGuard g;
      const torch::Tensor before = model->embedding_weight().clone();
      s.z().mul_(2);
      s.load();
      CHECK(torch::allclose(model->embedding_weight(), 2 * before, 1e-5, 1e-7));
      s.z().div_(2);
      s.load();
    }
    const torch::Tensor ids = torch::randint(0, 40, {3, 9}, torch::kInt64);
    auto lm_loss = [&] {
      const torch::Tensor logits = model->forward(ids.slice(1, 0, 8));
      return torch::nn::functional::cross_entropy(logits.reshape({-1, 40}), ids.slice(1, 1, 9).reshape(-1));
    };
    lm_loss().backward();
    std::vector<torch::Tensor> gw;
    for (const auto& p : model->named_parameters())
      if (is_shared_weight(p.key(), p.value())) gw.push_back(p.value().grad().reshape(-1).clone());
    s.backward();
    CHECK(torch::allclose(s.z().grad(), torch::mv(M.t(), torch::cat(gw)), 1e-4, 1e-6));
    // a few Adam steps on z (and the dense norms) lower the loss on this batch
    std::vector<torch::Tensor> params = {s.z()};
    for (auto& p : s.dense_parameters()) params.push_back(p.second);
    torch::optim::Adam opt(params, torch::optim::AdamOptions(1e-2));
    double first = 0, last = 0;
    for (int step = 0; step < 30; ++step) {
      opt.zero_grad();
      s.load();
      torch::Tensor loss = lm_loss();
      (step == 0 ? first : last) = loss.item<double>();
      loss.backward();
      s.backward();
      opt.step();
    }
    CHECK(last < first - 0.1);
  }
}

TEST_CASE("pruning models with batch norm (ResNet-20, VGG-11): every pruner keeps the exact count, SynFlow leaves buffers and dtypes as they were") {
  torch::manual_seed(6);
  nn::ResNet20 r(1, 10, 4);
  nn::VGG11 v(1, 10, 4, 28);
  const torch::Tensor x = torch::rand({8, 28, 28}), y = torch::randint(0, 10, {8}, torch::kInt64);
  for (int which = 0; which < 2; ++which) {
    CAPTURE(which);
    torch::nn::Module& m = which == 0 ? static_cast<torch::nn::Module&>(*r) : static_cast<torch::nn::Module&>(*v);
    std::function<torch::Tensor(torch::Tensor)> fwd = [&](torch::Tensor t) { return which == 0 ? r->forward(t) : v->forward(t); };
    int64_t weights = 0;
    for (const auto& p : m.named_parameters())
      if (is_shared_weight(p.key(), p.value())) weights += p.value().numel();
    for (Pruner p : {Pruner::synflow, Pruner::mag, Pruner::snip, Pruner::grasp}) {
      const std::string pruner = pruner_name(p);
      CAPTURE(pruner);
      std::vector<torch::Tensor> before;
      for (const auto& b : m.buffers()) before.push_back(b.clone());
      const int64_t keep = weights / 10;
      const auto masks = prune_masks(m, fwd, p, keep, x, y, 5);
      int64_t kept = 0;
      for (const auto& k : masks) kept += k.sum().item<int64_t>();
      CHECK(kept == keep);
      const auto after = m.buffers();
      for (size_t i = 0; i < before.size(); ++i) {
        CHECK((after[i].scalar_type() == before[i].scalar_type()));
        if (p == Pruner::synflow) CHECK(torch::equal(after[i], before[i]));
      }
      for (const auto& q : m.parameters()) CHECK((q.scalar_type() == torch::kFloat32));
    }
  }
}
