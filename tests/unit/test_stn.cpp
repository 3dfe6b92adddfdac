// Self-Tuning Networks (nn/stn.h, hpo/stn.h) and hyperparameter spaces (hpo/space.h): the layer with V = 0,
// gradients wrt h against finite differences, the entropy, the perturbation's statistics, per-example
// dropout, the hyperparameter gradient only through the hypernetwork, grid/random/halving enumeration,
// declarations.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include <cmath>
#include <set>

#include "paramkit/core/error.h"
#include "paramkit/hpo/space.h"
#include "paramkit/hpo/stn.h"
#include "paramkit/nn/stn.h"

using namespace paramkit;

TEST_CASE("STN layers with V = 0 are plain linear and convolutional layers") {
  torch::manual_seed(0);
  nn::StnLinear l(5, 3, 2);
  nn::StnConv2d c(2, 4, 3, 1, 2);
  {
    torch::NoGradGuard g;
    l->gates->weight.zero_();
    c->gates->weight.zero_();
  }
  const torch::Tensor x = torch::randn({6, 5}), h = torch::randn({6, 2});
  CHECK(torch::allclose(l->forward(x, h), torch::nn::functional::linear(x, l->weight, l->bias), 1e-6, 1e-7));
  const torch::Tensor xi = torch::randn({6, 2, 7, 7});
  const torch::Tensor plain = torch::nn::functional::conv2d(xi, c->weight, torch::nn::functional::Conv2dFuncOptions().padding(1).bias(c->bias));
  CHECK(torch::allclose(c->forward(xi, h), plain, 1e-5, 1e-6));
  // and with V != 0 the response path adds (V_w h) o (W_h x) + (V_b h) o b_h
  torch::manual_seed(1);
  nn::StnLinear m(5, 3, 2);
  const torch::Tensor g = torch::nn::functional::linear(h, m->gates->weight);
  const torch::Tensor want = torch::nn::functional::linear(x, m->weight, m->bias) + g.slice(1, 0, 3) * torch::nn::functional::linear(x, m->response_weight) +
                             g.slice(1, 3, 6) * m->response_bias;
  CHECK(torch::allclose(m->forward(x, h), want, 1e-6, 1e-7));
}

TEST_CASE("gradients wrt h through the STN layers match central differences") {
  torch::manual_seed(2);
  nn::StnLinear l(4, 3, 2);
  nn::StnConv2d c(1, 2, 3, 1, 2);
  l->to(torch::kFloat64);
  c->to(torch::kFloat64);
  {
    torch::NoGradGuard g;
    l->gates->weight.normal_(0, 0.5);
    c->gates->weight.normal_(0, 0.5);
  }
  const torch::Tensor x = torch::randn({3, 4}, torch::kFloat64), xi = torch::randn({3, 1, 5, 5}, torch::kFloat64);
  auto loss = [&](const torch::Tensor& h) { return l->forward(x, h).tanh().sum() + c->forward(xi, h).sin().sum(); };
  torch::Tensor h = torch::randn({3, 2}, torch::kFloat64).requires_grad_(true);
  loss(h).backward();
  const torch::Tensor g = h.grad().clone();
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 2; ++j) {
      torch::Tensor hp = h.detach().clone(), hm = h.detach().clone();
      hp[i][j] += 1e-6;
      hm[i][j] -= 1e-6;
      const double fd = (loss(hp).item<double>() - loss(hm).item<double>()) / 2e-6;
      CHECK(std::abs(fd - g[i][j].item<double>()) < 1e-6 * std::max(1.0, std::abs(fd)));
    }
}

TEST_CASE("perturbation: mean h, sd softplus(sigma_raw), entropy sum log(sigma sqrt(2 pi e))") {
  torch::manual_seed(3);
  nn::HyperState hs({-2.0, 0.5, 1.0}, 0.5);
  CHECK(torch::nn::functional::softplus(hs.sigma_raw)[0].item<double>() == doctest::Approx(0.5).epsilon(1e-6));
  const double want = 3 * std::log(0.5 * std::sqrt(2 * M_PI * M_E));
  CHECK(hs.entropy().item<double>() == doctest::Approx(want).epsilon(1e-6));
  {
    torch::NoGradGuard g;
    hs.sigma_raw[1] = std::log(std::expm1(2.0));  // sigma 2
  }
  CHECK(hs.entropy().item<double>() == doctest::Approx(2 * std::log(0.5 * std::sqrt(2 * M_PI * M_E)) + std::log(2 * std::sqrt(2 * M_PI * M_E))).epsilon(1e-6));
  const torch::Tensor p = hs.perturb(200000).detach();
  CHECK(p.mean(0)[0].item<double>() == doctest::Approx(-2.0).epsilon(0.01));
  CHECK(p.std(0)[0].item<double>() == doctest::Approx(0.5).epsilon(0.01));
  CHECK(p.std(0)[1].item<double>() == doctest::Approx(2.0).epsilon(0.01));
  CHECK(std::abs(torch::corrcoef(p.t())[0][2].item<double>()) < 0.01);  // independent per hyperparameter
}

TEST_CASE("per-example dropout: each row at its own rate, mean preserved, rates detached") {
  torch::manual_seed(4);
  const torch::Tensor x = torch::ones({3, 20000});
  const torch::Tensor p = torch::tensor({0.0, 0.5, 0.9}).requires_grad_(true);
  const torch::Tensor y = nn::dropout_per_example(x, p);
  CHECK(torch::equal(y[0], x[0]));
  CHECK(y[1].eq(0).to(torch::kFloat64).mean().item<double>() == doctest::Approx(0.5).epsilon(0.03));
  CHECK(y[2].eq(0).to(torch::kFloat64).mean().item<double>() == doctest::Approx(0.9).epsilon(0.03));
  CHECK(y[1].mean().item<double>() == doctest::Approx(1.0).epsilon(0.03));
  CHECK_FALSE(y.requires_grad());  // no gradient reaches the rates
  const torch::Tensor c = nn::channel_dropout_per_example(torch::ones({2, 1000, 2, 2}), torch::tensor({0.0, 0.5}));
  CHECK(torch::equal(c[1].select(0, 7)[0][0] == c[1].select(0, 7)[1][1], torch::tensor(true)));  // whole channels
}

TEST_CASE("the hyperparameter gradient flows only through the hypernetwork") {
  torch::manual_seed(5);
  hpo::StnSpec spec;
  spec.hidden = {16};
  spec.image_size = 8;
  const auto cat = hpo::catalogue(1, true);
  spec.hypers = {hpo::parse_declaration("dropout.in=0.3", cat), hpo::parse_declaration("dropout.1=0.3", cat)};
  hpo::StnNet net(spec);
  nn::HyperState hs({hpo::HyperParam(spec.hypers[0]).unconstrained(0.3), spec.hypers[1].unconstrained(0.3)}, 0.5);
  const torch::Tensor x = torch::rand({4, 8, 8}), y = torch::randint(0, 10, {4}, torch::kInt64);
  // eval mode (the hyper step): a gradient reaches h through V
  net->eval();
  torch::Tensor h = hs.perturb(4);
  torch::nn::functional::cross_entropy(net->forward(x, h), y).backward();
  CHECK(hs.h.grad().abs().sum().item<double>() > 0);
  // with V = 0 none does
  hs.h.mutable_grad().zero_();
  for (auto& p : net->named_parameters())
    if (p.key().find("gates") != std::string::npos) {
      torch::NoGradGuard g;
      p.value().zero_();
    }
  torch::nn::functional::cross_entropy(net->forward(x, hs.perturb(4)), y).backward();
  CHECK(hs.h.grad().abs().sum().item<double>() == 0);
  // train mode: the values driving dropout carry no gradient
  net->train();
  torch::Tensor values = hpo::hyper_values(spec.hypers, hs.perturb(4)).detach().requires_grad_(true);
  torch::nn::functional::cross_entropy(net->forward(x, {}, values), y).backward();
  CHECK((!values.grad().defined() || values.grad().abs().sum().item<double>() == 0));
}

TEST_CASE("hyperparameter transforms: value and unconstrained are inverse, discrete values floor into the range") {
  const auto cat = hpo::catalogue(2, true);
  const hpo::HyperParam d = hpo::parse_declaration("dropout.1=0.05", cat);
  CHECK(d.value(d.unconstrained(0.05)) == doctest::Approx(0.05).epsilon(1e-9));
  CHECK(d.unconstrained(0.05) == doctest::Approx(std::log(0.05 / 0.95) - std::log(0.9 / 0.95)).epsilon(1e-9));  // logit(0.05 / 0.95)
  const hpo::HyperParam l2 = hpo::parse_declaration("l2=1e-4", cat);
  CHECK(l2.value(l2.unconstrained(1e-4)) == doctest::Approx(1e-4).epsilon(1e-9));
  CHECK(l2.value(0) == doctest::Approx(std::sqrt(1e-7 * 1e-1)).epsilon(1e-9));  // the log-space middle
  const hpo::HyperParam holes = hpo::parse_declaration("aug.cutout_holes=1", cat);  // 0..4, relaxed over [0, 5)
  CHECK(holes.project(holes.value(holes.unconstrained(1.0) + 1e-6)) == 1);
  CHECK(holes.project(4.99) == 4);
  CHECK(holes.project(5.0) == 4);
  const torch::Tensor u = torch::tensor({-100.0, 0.0, 100.0}).view({3, 1});
  const torch::Tensor v = hpo::hyper_values({holes}, u);
  CHECK(v[0][0].item<double>() == 0);
  CHECK(v[1][0].item<double>() == 2);  // floor(2.5)
  CHECK(v[2][0].item<double>() == 4);
}

TEST_CASE("grid and random search enumerate exactly what they claim") {
  const auto cat = hpo::catalogue(1, true);
  const std::vector<hpo::HyperParam> space = {hpo::parse_declaration("dropout.1=0.1:0:0.8", cat), hpo::parse_declaration("aug.cutout_holes=1:0:2", cat),
                                              hpo::parse_declaration("l2=1e-5:1e-6:1e-2", cat)};
  const auto g = hpo::grid(space, 3);
  REQUIRE(g.size() == 27);
  CHECK(g[0] == hpo::Config{0.0, 0, 1e-6});
  CHECK(g[1][2] == doctest::Approx(1e-4));  // log-spaced
  CHECK(g[2][2] == doctest::Approx(1e-2));
  CHECK(g[3] == hpo::Config{0.0, 1, 1e-6});
  CHECK(g[26][0] == doctest::Approx(0.8));
  std::set<hpo::Config> unique(g.begin(), g.end());
  CHECK(unique.size() == 27);
  CHECK(hpo::grid({space[1]}, 10).size() == 3);  // a discrete range with fewer values than points: each once
  CHECK_THROWS_AS(hpo::grid(space, 100, 1000), UsageError);
  const auto r = hpo::random_configs(space, 500, 7);
  REQUIRE(r.size() == 500);
  std::set<double> holes;
  double below_1e4 = 0;
  for (const auto& c : r) {
    CHECK((c[0] >= 0 && c[0] <= 0.8));
    CHECK((c[1] == 0 || c[1] == 1 || c[1] == 2));
    holes.insert(c[1]);
    CHECK((c[2] >= 1e-6 && c[2] <= 1e-2));
    below_1e4 += c[2] < 1e-4;
  }
  CHECK(holes.size() == 3);
  CHECK(below_1e4 / 500 == doctest::Approx(0.5).epsilon(0.15));  // log-uniform: half the draws below the log-middle
  CHECK(hpo::random_configs(space, 500, 7) == r);
  CHECK(hpo::random_configs(space, 500, 8) != r);
  const auto rounds = hpo::halving_rounds(27, 1, 3, 27);
  REQUIRE(rounds.size() == 4);
  CHECK((rounds[0].epochs == 1 && rounds[0].survivors == 27 && rounds[3].epochs == 27 && rounds[3].survivors == 1));
  CHECK(hpo::halving_cost(rounds) == 27 + 9 * 2 + 3 * 6 + 1 * 18);
  CHECK(hpo::halving_rounds(10, 2, 2, 6).back().epochs == 6);
}

TEST_CASE("bad hyperparameter declarations are usage errors") {
  const auto cat = hpo::catalogue(2, false);
  CHECK_THROWS_AS(hpo::parse_declaration("dropout.7=0.1", cat), UsageError);        // unknown name
  CHECK_THROWS_AS(hpo::parse_declaration("aug.shift=0.1", cat), UsageError);        // not for this model
  CHECK_THROWS_AS(hpo::parse_declaration("dropout.1=0.1:0.5:0.5", cat), UsageError);  // empty range
  CHECK_THROWS_AS(hpo::parse_declaration("dropout.1=0.9:0:0.5", cat), UsageError);    // init outside
  CHECK_THROWS_AS(hpo::parse_declaration("dropout.1=nan", cat), UsageError);
  CHECK_THROWS_AS(hpo::parse_declaration("l2=1e-3:0:1", cat), UsageError);            // log range from 0
  CHECK_THROWS_AS(hpo::parse_declaration("dropout.1=0.1:0", cat), UsageError);
  const nlohmann::json twice = nlohmann::json::array({{{"name", "l2"}}, {{"name", "l2"}}});
  CHECK_THROWS_AS(hpo::parse_declarations(twice, cat, "h.json"), InputError);
  const nlohmann::json kind = nlohmann::json::array({{{"name", "l2"}, {"kind", "integer"}}});
  CHECK_THROWS_AS(hpo::parse_declarations(kind, cat, "h.json"), InputError);
  const nlohmann::json ok = nlohmann::json::array({{{"name", "dropout.2"}, {"range", {0.0, 0.5}}, {"init", 0.2}}});
  CHECK(hpo::parse_declarations(ok, cat, "h.json")[0].hi == 0.5);
}
