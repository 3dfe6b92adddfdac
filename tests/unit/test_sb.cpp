// mmsb-fit's library (sb/): the Gaussian Schrodinger bridge's endpoint correlation against its closed
// form, the least-squares OU drift, Lotka-Volterra refinement towards the true parameters, snapshot files.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "paramkit/core/error.h"
#include "paramkit/sb/bridge.h"

using namespace paramkit;
using namespace paramkit::sb;

namespace {
at::Generator gen(uint64_t s) { return at::make_generator<at::CPUGeneratorImpl>(s); }
double corr(const torch::Tensor& a, const torch::Tensor& b) {
  const torch::Tensor x = a.flatten() - a.mean(), y = b.flatten() - b.mean();
  return ((x * y).sum() / (x.norm() * y.norm())).item<double>();
}
}  // namespace

TEST_CASE("IPF on N(0,1) to N(0,1) with a Brownian reference: the endpoint correlation is (sqrt(4 + eps^2) - eps) / 2") {
  const MeanDrift zero = [](const torch::Tensor& x) { return torch::zeros_like(x); };
  for (double eps : {1.0, 0.1, 4.0}) {
    CAPTURE(eps);
    auto g = gen(1);
    const torch::Tensor x0 = at::normal(0.0, 1.0, {1000, 1}, g, torch::TensorOptions().dtype(torch::kFloat64));
    const torch::Tensor x1 = at::normal(0.0, 1.0, {1000, 1}, g, torch::TensorOptions().dtype(torch::kFloat64));
    BridgeOptions o;
    o.sigma = std::sqrt(eps);
    o.dt = 0.05;
    o.ipf_iterations = 8;
    o.regressor.features = 128;
    o.regressor.noise = 0.01;
    o.regressor.max_points = 100000;
    const Bridge b = fit_bridge(x0, x1, 0, 1, zero, o, 3);
    const Path p = run_forward(b, zero, x0, o, gen(4));
    const double rho = (std::sqrt(4 + eps * eps) - eps) / 2;
    MESSAGE("eps " << eps << ": correlation " << corr(p.x[0], p.x[-1]) << " against " << rho << ", sd " << p.x[-1].std().item<double>());
    CHECK(std::abs(corr(p.x[0], p.x[-1]) - rho) < 0.05);
    CHECK(std::abs(p.x[-1].std().item<double>() - 1) < 0.08);
  }
}

TEST_CASE("least-squares drift: OU (theta 1, sigma 0.5) within 5 percent, Lotka-Volterra and the repressilator from their own paths") {
  DriftClass lin;
  lin.kind = "linear";
  lin.dim = 1;
  const Path ou = simulate(lin, torch::tensor({-1.0, 0.0}, torch::kFloat64), torch::randn({200, 1}, torch::kFloat64) * 2, 0, 20, 0.01, 0.5, gen(5));
  const int64_t G = ou.x.size(0);
  auto transitions = [](const Path& p, torch::Tensor& a, torch::Tensor& b, torch::Tensor& dt) {
    const int64_t G = p.x.size(0), d = p.x.size(2);
    a = p.x.narrow(0, 0, G - 1).reshape({-1, d});
    b = p.x.narrow(0, 1, G - 1).reshape({-1, d});
    dt = torch::full({a.size(0)}, p.t[1] - p.t[0], torch::kFloat64);
  };
  torch::Tensor a, b, dt;
  transitions(ou, a, b, dt);
  CHECK(G == 2001);
  const torch::Tensor th = fit_theta(lin, a, b, dt, torch::zeros({2}, torch::kFloat64));
  CHECK(th[0].item<double>() == doctest::Approx(-1).epsilon(0.05));
  CHECK(std::abs(th[1].item<double>()) < 0.05);
  DriftClass lv;
  lv.kind = "lv";
  const std::vector<double> truth = {1.0, 0.4, 0.1, 0.4};
  const Path p = simulate(lv, torch::tensor(truth, torch::kFloat64), torch::tensor({5.0, 2.0}, torch::kFloat64).repeat({300, 1}), 0, 8, 0.02, 0.1, gen(6));
  transitions(p, a, b, dt);
  const torch::Tensor tl = fit_theta(lv, a, b, dt, torch::zeros({4}, torch::kFloat64));
  for (int i = 0; i < 4; ++i) CHECK(tl[i].item<double>() == doctest::Approx(truth[static_cast<size_t>(i)]).epsilon(0.05));
  DriftClass rep;
  rep.kind = "repressilator";
  rep.dim = 3;
  const std::vector<double> rt = {10, 3, 1, 1};
  const Path q = simulate(rep, torch::tensor(rt, torch::kFloat64), torch::tensor({1.0, 2.0, 3.0}, torch::kFloat64).repeat({100, 1}), 0, 10, 0.02, 0.1, gen(7));
  transitions(q, a, b, dt);
  const torch::Tensor tr = fit_theta(rep, a, b, dt, torch::tensor({5.0, 2.0, 1.5, 0.5}, torch::kFloat64), 3000);
  for (int i = 0; i < 4; ++i) CHECK(tr[i].item<double>() == doctest::Approx(rt[static_cast<size_t>(i)]).epsilon(0.1));
}

TEST_CASE("refinement on simulated Lotka-Volterra snapshots moves the reference towards the true parameters and lowers the held-out W2") {
  DriftClass lv;
  lv.kind = "lv";
  const std::vector<double> truth = {1.0, 0.4, 0.1, 0.4};
  Snapshots s = simulate_snapshots(lv, truth, {5, 2}, 0.5, {0, 1, 2, 3, 4, 5, 6, 7, 8}, 200, 0.1, 0.02, 8);
  const Snapshots held = hold_out(s, {1, 3, 5, 7}, "test");
  CHECK(s.times == std::vector<double>{0, 2, 4, 6, 8});
  RefineOptions o;
  o.bridge.dt = 0.05;
  o.bridge.ipf_iterations = 5;
  o.bridge.regressor.features = 128;
  o.reference = lv;
  o.rounds = 3;
  const RefineResult r = refine(s, held, o, 1);
  REQUIRE(r.rounds.size() == 3);
  auto err = [&](const std::vector<double>& th) {
    double e = 0;
    for (size_t i = 0; i < 4; ++i) e = std::max(e, std::abs(th[i] - truth[i]) / truth[i]);
    return e;
  };
  MESSAGE("relative error " << err(r.rounds.front().theta) << " -> " << err(r.theta) << ", held-out W2 " << r.rounds.front().mean_w2 << " -> "
                            << r.rounds.back().mean_w2);
  // From theta = 0.5 everywhere (relative error 4) towards (1, 0.4, 0.1, 0.4), every round closer.
  CHECK(err(r.rounds[1].theta) < err(r.rounds[0].theta));
  CHECK(err(r.rounds[2].theta) < err(r.rounds[1].theta));
  CHECK(err(r.theta) < err(r.rounds[2].theta));
  CHECK(r.rounds.back().mean_w2 < 0.7 * r.rounds.front().mean_w2);
  o.reference.kind = "brownian";
  const RefineResult base = refine(s, held, o, 1);
  CHECK(base.rounds.size() == 1);
  CHECK(base.rounds[0].theta.empty());
}

TEST_CASE("snapshot files: CSV round trip grouped by time, and bad files are input errors naming the field") {
  const auto dir = std::filesystem::temp_directory_path() / "paramkit-test-sb";
  std::filesystem::create_directories(dir);
  DriftClass sp;
  sp.kind = "spring";
  const Snapshots s = simulate_snapshots(sp, {1.0}, {1, -1}, 0.1, {0, 0.5, 1.5}, 20, 0.1, 0.01, 2);
  save_snapshots(dir / "s.csv", s);
  const Snapshots back = load_snapshots(dir / "s.csv");
  CHECK(back.times == s.times);
  CHECK(torch::allclose(back.x[2], s.x[2], 1e-12, 1e-12));
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return dir / name;
  };
  CHECK_THROWS_AS(load_snapshots(write("one.csv", "t,x\n0,1\n0,2\n")).validate("one.csv", 2), InputError);
  CHECK_THROWS_AS(load_snapshots(write("nan.csv", "t,x\n0,1\n0,nan\n1,2\n1,3\n")), InputError);
  CHECK_THROWS_AS(load_snapshots(write("notime.csv", "time,x\n0,1\n")), InputError);
  CHECK_THROWS_AS(load_snapshots(write("single.csv", "t,x\n0,1\n1,2\n1,3\n")), InputError);
  CHECK_THROWS_AS(simulate_snapshots(sp, {1.0}, {1, -1}, 0.1, {0, 1, 1}, 20, 0.1, 0.01, 2), UsageError);
  CHECK_THROWS_AS(simulate_snapshots(sp, {1.0}, {1, -1}, 0.1, {0, 2, 1}, 20, 0.1, 0.01, 2), UsageError);
  Snapshots t = s;
  CHECK_THROWS_AS(hold_out(t, {0.7}, "x"), UsageError);
  std::filesystem::remove_all(dir);
}
