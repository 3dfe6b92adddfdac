// Models (shapes, known parameter counts), schedules (hand-computed values), evaluation.
#include <doctest/doctest.h>

#include <torch/torch.h>

#include <cmath>

#include "paramkit/core/error.h"
#include "paramkit/nn/models.h"
#include "paramkit/nn/optim.h"
#include "paramkit/nn/train.h"

using namespace paramkit;

namespace {
int64_t count(torch::nn::Module& m) {
  int64_t n = 0;
  for (auto& p : m.parameters()) n += p.numel();
  return n;
}
}  // namespace

TEST_CASE("model shapes and parameter counts") {
  nn::LeNet5 lenet(1, 10);
  CHECK(count(*lenet) == 61706);  // LeCun et al. 1998: 156 + 2416 + 48120 + 10164 + 850
  CHECK(lenet->forward(torch::zeros({2, 1, 28, 28})).sizes() == torch::IntArrayRef({2, 10}));
  nn::Mlp mlp(nn::MlpOptions{});
  CHECK(count(*mlp) == 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10);
  CHECK(mlp->forward(torch::zeros({3, 28, 28})).sizes() == torch::IntArrayRef({3, 10}));
  nn::ResNet20 r(3, 10);
  // By hand: stem 432 + bn 32; stage 1: 3 x (2 x 2304 + 64) = 14016; stage 2: (4608 + 9216 + 128 + 512 + 64)
  // + 2 x 18560 = 51648; stage 3: (18432 + 36864 + 256 + 2048 + 128) + 2 x 73984 = 205696; head 650.
  CHECK(count(*r) == 432 + 32 + 14016 + 51648 + 205696 + 650);
  CHECK(r->forward(torch::zeros({2, 3, 32, 32})).sizes() == torch::IntArrayRef({2, 10}));
  std::function<torch::Tensor(torch::Tensor)> fwd;
  CHECK_THROWS_AS(nn::make_model("vgg", {1, 28, 28}, 10, fwd), UsageError);
  CHECK_THROWS_AS(nn::Mlp(nn::MlpOptions{784, {8}, 10, "swish"}), UsageError);
}

TEST_CASE("learning-rate schedules") {
  nn::ScheduleOptions s;
  CHECK(nn::lr_at(s, 0.1, 500, 1000) == 0.1);
  s.kind = "step";
  s.step_size = 100;
  s.gamma = 0.5;
  CHECK(nn::lr_at(s, 0.1, 99, 1000) == doctest::Approx(0.1));
  CHECK(nn::lr_at(s, 0.1, 250, 1000) == doctest::Approx(0.025));
  s.kind = "cosine";
  s.warmup = 10;
  CHECK(nn::lr_at(s, 0.1, 0, 110) == doctest::Approx(0.01));   // warmup (step+1)/10
  CHECK(nn::lr_at(s, 0.1, 9, 110) == doctest::Approx(0.1));
  CHECK(nn::lr_at(s, 0.1, 10, 110) == doctest::Approx(0.1));   // cosine starts at base
  CHECK(nn::lr_at(s, 0.1, 60, 110) == doctest::Approx(0.05));  // half way: base/2
  CHECK(nn::lr_at(s, 0.1, 110, 110) == doctest::Approx(0.0));
  s.min_lr_ratio = 0.1;
  CHECK(nn::lr_at(s, 0.1, 110, 110) == doctest::Approx(0.01));
}

TEST_CASE("optimizers are the ones asked for and follow their update rules") {
  torch::Tensor w = torch::ones({1}, torch::requires_grad());
  nn::OptimizerOptions o;
  o.name = "sgd";
  o.lr = 0.1;
  o.momentum = 0.0;
  auto opt = nn::make_optimizer(o, {w});
  (w * 3).sum().backward();
  opt->step();
  CHECK(w.item<double>() == doctest::Approx(1 - 0.1 * 3));
  // Adam's first step moves each weight by lr (bias-corrected m/sqrt(v) = sign(g)).
  torch::Tensor v = torch::ones({1}, torch::requires_grad());
  o.name = "adam";
  o.lr = 0.01;
  auto adam = nn::make_optimizer(o, {v});
  (v * 5).sum().backward();
  adam->step();
  CHECK(v.item<double>() == doctest::Approx(1 - 0.01).epsilon(1e-6));
  o.name = "rmsprop";
  CHECK_THROWS_AS(nn::make_optimizer(o, {v}), UsageError);
}

TEST_CASE("evaluate: loss and accuracy of a fixed linear model") {
  torch::nn::Linear lin(2, 2);
  {
    torch::NoGradGuard g;
    lin->weight.copy_(torch::tensor({{1.0f, 0.0f}, {0.0f, 1.0f}}));
    lin->bias.zero_();
  }
  Dataset d{torch::tensor({{2.0f, 0.0f}, {0.0f, 2.0f}, {2.0f, 0.0f}}), torch::tensor({0L, 1L, 1L})};
  auto r = nn::evaluate(*lin, [&](torch::Tensor x) { return lin->forward(x); }, d, 2);
  CHECK(r.accuracy == doctest::Approx(2.0 / 3.0));
  double good = std::log(1 + std::exp(-2.0)), bad = std::log(1 + std::exp(2.0));
  CHECK(r.loss == doctest::Approx((2 * good + bad) / 3));
}

TEST_CASE("training learns a separable problem") {
  torch::manual_seed(0);
  torch::Tensor x = torch::randn({200, 2});
  torch::Tensor y = (x.select(1, 0) > 0).to(torch::kInt64);
  Dataset d{x, y};
  nn::Mlp m(nn::MlpOptions{2, {16}, 2, "relu"});
  auto fwd = [&](torch::Tensor t) { return m->forward(t); };
  nn::TrainOptions t;
  t.epochs = 30;
  t.batch_size = 20;
  t.log_every = 0;
  t.optimizer.lr = 0.01;
  nn::train_classifier(*m, fwd, d, t, 0);
  CHECK(nn::evaluate(*m, fwd, d).accuracy > 0.95);
}

TEST_CASE("training stops with a message naming the cause: a non-finite loss, no examples") {
  torch::Tensor x = torch::randn({20, 2});
  x[3][1] = std::numeric_limits<float>::quiet_NaN();
  torch::Tensor y = (x.select(1, 0) > 0).to(torch::kInt64);
  nn::Mlp m(nn::MlpOptions{2, {4}, 2, "relu"});
  auto fwd = [&](torch::Tensor t) { return m->forward(t); };
  nn::TrainOptions t;
  t.batch_size = 20;
  t.log_every = 0;
  CHECK_THROWS_WITH_AS(nn::train_classifier(*m, fwd, Dataset{x, y}, t, 0), doctest::Contains("loss is not finite at step 1"), Error);
  Dataset empty{torch::zeros({0, 2}), torch::zeros({0}, torch::kInt64)};
  CHECK_THROWS_WITH_AS(nn::train_classifier(*m, fwd, empty, t, 0), doctest::Contains("no examples"), InputError);
}

TEST_CASE("trunk with a task head: tensor names, shapes, and a frozen part left unchanged by training") {
  torch::manual_seed(0);
  nn::TrunkHead m(nn::MlpOptions{2, {8}, 6, "relu"}, 3);
  std::vector<std::string> names;
  for (const auto& p : m->named_parameters()) names.push_back(p.key());
  CHECK(names == std::vector<std::string>{"trunk.layers.0.weight", "trunk.layers.0.bias", "trunk.layers.1.weight",
                                          "trunk.layers.1.bias", "head.weight", "head.bias"});
  torch::Tensor x = torch::randn({40, 2});
  // Hand-computed forward: head(relu(trunk(x))), the trunk's last layer followed by the activation.
  torch::Tensor h = torch::relu(m->trunk->forward(x));
  CHECK(torch::allclose(m->forward(x), torch::addmm(m->head->bias, h, m->head->weight.t())));
  CHECK(m->forward(x).sizes() == torch::IntArrayRef({40, 3}));

  Dataset d{x, (x.select(1, 0) > 0).to(torch::kInt64)};
  auto fwd = [&](torch::Tensor t) { return m->forward(t); };
  nn::TrainOptions t;
  t.epochs = 3;
  t.batch_size = 10;
  t.log_every = 0;
  t.optimizer.name = "adamw";
  t.optimizer.weight_decay = 0.1;  // would move frozen weights if they reached the optimizer
  torch::Tensor head_before = m->head->weight.clone(), trunk_before = m->trunk->parameters()[0].clone();
  for (auto& p : m->head->parameters()) p.set_requires_grad(false);
  nn::train_classifier(*m, fwd, d, t, 0);
  CHECK(torch::equal(m->head->weight, head_before));
  CHECK_FALSE(torch::equal(m->trunk->parameters()[0], trunk_before));
  for (auto& p : m->parameters()) p.set_requires_grad(false);
  CHECK_THROWS_WITH_AS(nn::train_classifier(*m, fwd, d, t, 0), doctest::Contains("frozen"), UsageError);
}

TEST_CASE("LeNet-5 on MNIST: 61,706 parameters padded to 32x32, 44,426 unpadded (the count of Li et al. 2018)") {
  auto count = [](const std::shared_ptr<torch::nn::Module>& m) {
    int64_t n = 0;
    for (const auto& p : m->parameters()) n += p.numel();
    return n;
  };
  std::function<torch::Tensor(torch::Tensor)> f;
  auto padded = paramkit::nn::make_model("lenet5", {28, 28}, 10, f);
  CHECK(count(padded) == 61706);
  CHECK(f(torch::zeros({2, 28, 28})).sizes() == std::vector<int64_t>{2, 10});
  auto paper = paramkit::nn::make_model("lenet", {28, 28}, 10, f);
  CHECK(count(paper) == 44426);
  CHECK(f(torch::zeros({3, 28, 28})).sizes() == std::vector<int64_t>{3, 10});
}

TEST_CASE("VGG-11: the classic parameter count at width 64 on 32x32 RGB, and MNIST-sized inputs") {
  std::function<torch::Tensor(torch::Tensor)> f;
  auto m = paramkit::nn::make_model("vgg11", {3, 32, 32}, 10, f);
  int64_t conv = 0;
  for (const auto& p : m->named_parameters())
    if (p.key().find("features") == 0 && p.value().dim() == 4) conv += p.value().numel();
  // 3x3 kernels 3-64-128-256-256-512-512-512-512: 9 x (3*64 + 64*128 + 128*256 + 256*256 + 256*512 + 3 * 512*512)
  CHECK(conv == 9 * (3 * 64 + 64 * 128 + 128 * 256 + 256 * 256 + 256 * 512 + 3 * 512 * 512));
  CHECK(f(torch::zeros({2, 3, 32, 32})).sizes() == std::vector<int64_t>{2, 10});
  auto small = paramkit::nn::make_model("vgg11", {28, 28}, 10, f);
  CHECK(f(torch::zeros({2, 28, 28})).sizes() == std::vector<int64_t>{2, 10});
}
