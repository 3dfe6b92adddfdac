// PFGM++ (gen/pfgm.h): the spec's checkable facts: the kernel's second moment and Beta ratio by both
// samplers, the schedule's end points and EDM's preconditioning at sigma = 0.5, the exact empirical
// denoiser landing every sample on a data point, the large-D prior against the Gaussian, and D = inf
// against D = 1e7 from the same noise.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include <cmath>

#include "paramkit/core/error.h"
#include "paramkit/gen/pfgm.h"

using namespace paramkit;
using namespace paramkit::gen;

TEST_CASE("PFGM++ kernel, N = 2, D = 8, sigma = 1: E||x||^2 = 2.667 by both samplers, ||x||^2 / (||x||^2 + r^2) ~ Beta(1, 4)") {
  torch::manual_seed(1);
  const int64_t n = 400000;
  const torch::Tensor y = torch::zeros({n, 2}, torch::kFloat64), s = torch::ones({n}, torch::kFloat64);
  for (int which = 0; which < 2; ++which) {
    CAPTURE(which);
    const torch::Tensor x = which == 0 ? perturb(y, s, 8) : perturb_student_t(y, s, 8);
    const torch::Tensor sq = x.square().sum(1);
    CHECK(sq.mean().item<double>() == doctest::Approx(2.0 * 8 / 6).epsilon(0.02));  // heavy tail: 2% at 400k
    const torch::Tensor ratio = sq / (sq + 8.0);  // r^2 = sigma^2 D
    CHECK(ratio.mean().item<double>() == doctest::Approx(0.2).epsilon(0.005));
    CHECK(ratio.var().item<double>() == doctest::Approx(4.0 / (25 * 6)).epsilon(0.01));
    // Beta(1, 4)'s CDF 1 - (1 - q)^4 at q = 0.1, 0.3
    for (double q : {0.1, 0.3}) CHECK(ratio.lt(q).to(torch::kFloat64).mean().item<double>() == doctest::Approx(1 - std::pow(1 - q, 4)).epsilon(0.01));
  }
}

TEST_CASE("EDM schedule end points and preconditioning at sigma = 0.5") {
  const auto t = edm_schedule(18);
  REQUIRE(t.size() == 19);
  CHECK(t[0] == doctest::Approx(80));
  CHECK(t[17] == doctest::Approx(0.002));
  CHECK(t[18] == 0);
  for (size_t i = 1; i < 18; ++i) CHECK(t[i] < t[i - 1]);
  const Precond p = edm_precond(0.5);
  CHECK(p.c_skip == doctest::Approx(0.5));
  CHECK(p.c_out == doctest::Approx(0.3536).epsilon(1e-4));
  CHECK(p.c_in == doctest::Approx(1.4142).epsilon(1e-4));
  CHECK(p.c_noise == doctest::Approx(std::log(0.5) / 4));
  CHECK(edm_loss_weight(0.5) == doctest::Approx((0.25 + 0.25) / (0.0625)));
  torch::manual_seed(2);
  const torch::Tensor s = training_sigmas(200000).log();
  CHECK(s.mean().item<double>() == doctest::Approx(-1.2).epsilon(0.01));
  CHECK(s.std().item<double>() == doctest::Approx(1.2).epsilon(0.01));
}

TEST_CASE("with the exact empirical denoiser every sample lands on a data point, for finite and infinite D") {
  torch::manual_seed(3);
  const torch::Tensor data = torch::randn({12, 2}, torch::kFloat64) * 2;
  for (double D : {8.0, 128.0, kInfiniteD}) {
    CAPTURE(D);
    SamplerOptions o;
    o.D = D;
    o.steps = 40;
    const torch::Tensor x = sample([&](const torch::Tensor& v, double s) { return empirical_denoiser(data, v, s, D); }, {64, 2}, o);
    const torch::Tensor dmin = std::get<0>(torch::cdist(x, data).min(1));
    CHECK(dmin.max().item<double>() < 1e-3);
    o.method = "euler";
    const torch::Tensor xe = sample([&](const torch::Tensor& v, double s) { return empirical_denoiser(data, v, s, D); }, {64, 2}, o);
    CHECK(std::get<0>(torch::cdist(xe, data).min(1)).max().item<double>() < 1e-3);
  }
}

TEST_CASE("at very large D the prior's moments equal the Gaussian's within 0.1 percent, and D = 1e7 samples follow D = inf from the same noise") {
  torch::manual_seed(4);
  const int64_t n = 20000, N = 784;
  const torch::Tensor z = torch::zeros({n, N}, torch::kFloat64), s = torch::full({n}, 80.0, torch::kFloat64);
  const torch::Tensor x = perturb_student_t(z, s, 1e7);
  CHECK(x.square().mean().item<double>() == doctest::Approx(6400.0).epsilon(0.001));
  const torch::Tensor k = (x / 80).pow(4).mean();  // Gaussian: E g^4 = 3
  CHECK(k.item<double>() == doctest::Approx(3.0).epsilon(0.003));
  const torch::Tensor data = torch::randn({10, 3}, torch::kFloat64);
  SamplerOptions o;
  std::vector<torch::Tensor> out;
  for (double D : {kInfiniteD, 1e7}) {
    o.D = D;
    torch::manual_seed(5);
    out.push_back(sample([&](const torch::Tensor& v, double sg) { return empirical_denoiser(data, v, sg, D); }, {16, 3}, o));
  }
  CHECK((out[0] - out[1]).abs().max().item<double>() < 1e-2);
}

TEST_CASE("sampler options: bad values are usage errors") {
  SamplerOptions o;
  o.D = 0;
  CHECK_THROWS_AS(o.validate(), UsageError);
  o = SamplerOptions();
  o.sigma_min = 100;
  CHECK_THROWS_AS(o.validate(), UsageError);
  o = SamplerOptions();
  o.method = "dpm";
  CHECK_THROWS_AS(o.validate(), UsageError);
  o = SamplerOptions();
  o.steps = 0;
  CHECK_THROWS_AS(o.validate(), UsageError);
}

#include "paramkit/gen/train.h"
#include "paramkit/nn/denoiser.h"

TEST_CASE("preconditioning, EMA, and a trained MLP denoiser: PFGM++ (D = 128) and EDM (D = inf) samples land on a 2-D mixture's modes") {
  // F = 0: D(x, sigma) = c_skip x
  const torch::Tensor x = torch::randn({5, 2});
  const torch::Tensor d = precondition([](const torch::Tensor& v, const torch::Tensor&) { return torch::zeros_like(v); }, x, torch::full({5}, 0.5, torch::kFloat64));
  CHECK(torch::allclose(d, 0.5 * x));
  // EMA: shadow = decay shadow + (1 - decay) theta
  torch::nn::Linear l(2, 1);
  nn::Ema ema(*l, 0.9);
  const torch::Tensor w0 = l->weight.detach().clone();
  {
    torch::NoGradGuard g;
    l->weight.add_(1.0);
  }
  ema.update(*l);
  CHECK(torch::allclose(ema.shadow()[0], w0 + 0.1));
  // Ramped up: at step 0 the decay is min(0.9, 1 / 10) = 0.1, at step 90 min(0.9, 91 / 100) = 0.9.
  nn::Ema ramp(*l, 0.9);
  {
    torch::NoGradGuard g;
    l->weight.add_(1.0);
  }
  ramp.update(*l, 0);
  CHECK(torch::allclose(ramp.shadow()[0], w0 + 1 + 0.9));
  ramp.update(*l, 90);
  CHECK(torch::allclose(ramp.shadow()[0], w0 + 1.9 + 0.1 * 0.1));
  torch::manual_seed(7);
  const torch::Tensor centres = torch::tensor({2.0, 2.0, -2.0, 2.0, 2.0, -2.0, -2.0, -2.0}).view({4, 2});
  const torch::Tensor data = (centres.index_select(0, torch::randint(0, 4, {4000}, torch::kInt64)) + 0.1 * torch::randn({4000, 2})).to(torch::kFloat32);
  for (double D : {128.0, kInfiniteD}) {
    CAPTURE(D);
    torch::manual_seed(8);
    nn::MlpDenoiser net(2, std::vector<int64_t>{128, 128}, 32);
    const RawNet f = [&](const torch::Tensor& v, const torch::Tensor& c) { return net->forward(v, c); };
    DenoiserTrainOptions o;
    o.D = D;
    o.train.epochs = 100;
    o.train.batch_size = 256;
    o.train.max_steps = 1500;
    o.train.optimizer.name = "adam";
    o.train.optimizer.lr = 2e-3;
    o.train.log_every = 0;
    const nn::TrainResult t = train_denoiser(*net, f, data, o, 0);
    CHECK(t.steps == 1500);
    net->eval();
    SamplerOptions so;
    so.D = D;
    const torch::Tensor s = sample(as_denoiser(f), {400, 2}, so);
    const auto [dist, which] = torch::cdist(s, centres.to(torch::kFloat64)).min(1);
    CHECK(dist.median().item<double>() < 0.3);
    for (int64_t c = 0; c < 4; ++c) CHECK(which.eq(c).sum().item<int64_t>() > 40);  // every mode
  }
}

TEST_CASE("U-Net denoiser: shapes, zero output at initialisation, every parameter gets a gradient, bad options") {
  torch::manual_seed(9);
  nn::UNetOptions o;
  o.base = 16;
  o.mult = {1, 2, 2};
  nn::UNet u(o);
  const torch::Tensor x = torch::randn({3, 1, 28, 28}), c = torch::randn({3});
  const torch::Tensor y0 = u->forward(x, c);
  CHECK(y0.sizes() == x.sizes());
  CHECK(y0.abs().max().item<double>() == 0);  // the output convolution starts at zero: D = c_skip x
  torch::optim::Adam opt(u->parameters(), torch::optim::AdamOptions(1e-3));
  for (int step = 0; step < 3; ++step) {
    opt.zero_grad();
    (u->forward(x, c) - x).square().mean().backward();
    opt.step();
  }
  CHECK(u->forward(x, c).abs().max().item<double>() > 0);
  int64_t with_grad = 0, total = 0;
  for (const auto& p : u->parameters()) {
    ++total;
    with_grad += p.grad().defined() && p.grad().abs().sum().item<double>() > 0;
  }
  CHECK(with_grad == total);  // after a few steps every parameter gets a gradient (the zero inits open up)
  // a 3-channel 32x32 model
  nn::UNetOptions o3;
  o3.channels = 3;
  o3.base = 8;
  o3.mult = {1, 2};
  nn::UNet u3(o3);
  CHECK(u3->forward(torch::randn({2, 3, 32, 32}), torch::randn({2})).sizes() == std::vector<int64_t>{2, 3, 32, 32});
  nn::UNetOptions bad;
  bad.mult = {};
  CHECK_THROWS_AS(bad.validate(), UsageError);
  CHECK_THROWS(u->forward(torch::randn({1, 1, 30, 30}), torch::randn({1})));  // 30 is not divisible by 4
}
