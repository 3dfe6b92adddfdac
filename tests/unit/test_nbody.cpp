// nbody integrators against closed forms and the classic problems (figure-eight, Pythagorean, Kepler).
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "paramkit/core/error.h"
#include "paramkit/core/rng.h"
#include "paramkit/io/tensor_store.h"
#include "paramkit/nbody/dqn.h"
#include "paramkit/nbody/policy.h"
#include "paramkit/torch/state_dict.h"
#include "paramkit/nbody/env.h"
#include "paramkit/nbody/evaluate.h"
#include "paramkit/nbody/integrate.h"
#include "paramkit/nbody/integrators.h"
#include "paramkit/nbody/system.h"
#include "helpers.h"

using namespace paramkit;
using namespace paramkit::nbody;

namespace {
constexpr double kPeriod8 = 6.32591398;
double rel_energy_error(const System& s, double e0) { return std::fabs((energy(s) - e0) / e0); }
}  // namespace

TEST_CASE("figure-eight: energy, angular momentum, one period with IAS15 (< 1e-15) and Hermite eta 0.01 (< 1e-6)") {
  System s0 = named_problem("figure-eight");
  CHECK(energy(s0) == doctest::Approx(-1.287142).epsilon(1e-6));
  CHECK(std::fabs(angular_momentum(s0)[2]) < 1e-7);
  for (const char* name : {"ias15", "hermite"}) {
    CAPTURE(name);
    System s = s0;
    auto integ = make_integrator(name, std::string(name) == "hermite" ? 0.01 : 1e-9);
    integ->integrate_to(s, kPeriod8);
    CHECK(s.t == kPeriod8);
    const double de = rel_energy_error(s, energy(s0));
    // IAS15 at machine precision: within 1e-15 = 4.5 double epsilons, what evaluating E = T + W alone
    // rounds to (|T|, |W| ~ 1.2, 2.5 against |E| = 1.29); 0 measured, 2.1e-15 with plain summation.
    CHECK(de < (std::string(name) == "ias15" ? 1e-15 : 1e-6));
    // Back at the start after one period (the period is given to 9 digits; the orbit is stable).
    double dx = 0;
    for (size_t i = 0; i < 3; ++i)
      for (int k = 0; k < 3; ++k) dx = std::max(dx, std::fabs(s.x[i][k] - s0.x[i][k]));
    CHECK(dx < 1e-5);
  }
}

TEST_CASE("Pythagorean problem to t = 70 with IAS15 keeps |dE/E0| < 1e-10 in REBOUND's steps, momentum conserved to round-off") {
  // REBOUND 5.0, IAS15, epsilon 1e-9, PRS23 on the same initial conditions: 5380 steps, |dE/E0| =
  // 3.1e-11 (2.2e-9 with its compensated summation switched off). Measured here: 5378 steps, 6.7e-12.
  System s = named_problem("pythagorean");
  const double e0 = energy(s);
  CHECK(e0 == doctest::Approx(-769.0 / 60).epsilon(1e-14));
  auto integ = make_integrator("ias15", 1e-9);
  integ->integrate_to(s, 70);
  CHECK(s.t == 70);
  CHECK(rel_energy_error(s, e0) < 1e-10);
  CHECK(integ->stats.steps > 5380 * 0.98);
  CHECK(integ->stats.steps < 5380 * 1.02);
  Vec3 p = momentum(s);
  for (int k = 0; k < 3; ++k) CHECK(std::fabs(p[k]) < 1e-12);
  CHECK(integ->stats.force_evaluations > integ->stats.steps);
}

TEST_CASE("IAS15's compensated summation against plain summation on 9 round-off draws of the Pythagorean problem") {
  // The problem is chaotic, so one run's final error is one draw of the round-off: the same problem
  // shifted by (k, k, 0) x 1e-3 (the same physics, other round-off) gives 9 draws. Medians measured:
  // compensated 2.8e-11, plain 5.8e-10 (scripts/bench/nbody.sh, "ias15_summation").
  auto median_error = [](bool compensated) {
    std::vector<double> err;
    for (int k = 0; k < 9; ++k) {
      System s = named_problem("pythagorean");
      for (auto& x : s.x) x[0] += 1e-3 * k, x[1] += 1e-3 * k;
      const double e0 = energy(s);
      auto integ = make_ias15(1e-9, compensated);
      integ->integrate_to(s, 70);
      err.push_back(rel_energy_error(s, e0));
    }
    std::sort(err.begin(), err.end());
    return err[4];
  };
  const double comp = median_error(true), plain = median_error(false);
  CAPTURE(comp);
  CAPTURE(plain);
  CHECK(comp < 1e-10);
  CHECK(plain > 3 * comp);
}

TEST_CASE("IAS15 lands on every requested time, the compensation follows the system it belongs to") {
  // Many short calls (the sampling of integrate) against one long one: the same end time exactly,
  // and the energy at machine precision either way.
  System a = named_problem("figure-eight"), b = a;
  const double e0 = energy(a);
  auto ia = make_integrator("ias15"), ib = make_integrator("ias15");
  for (int k = 1; k <= 1000; ++k) ia->integrate_to(a, kPeriod8 * k / 1000);
  ib->integrate_to(b, kPeriod8);
  CHECK(a.t == kPeriod8);
  CHECK(rel_energy_error(a, e0) < 1e-15);
  CHECK(rel_energy_error(b, e0) < 1e-15);
  // A system changed between calls (here: replaced by a fresh one) starts without the old
  // compensation: the result equals a new integrator's, bit for bit.
  System c = named_problem("pythagorean"), d = c;
  ia->reset();
  ia->integrate_to(c, 1);
  auto fresh = make_integrator("ias15");
  fresh->integrate_to(d, 1);
  CHECK((c.x == d.x));
  CHECK((c.v == d.v));
}

TEST_CASE("convergence orders on a Kepler orbit (e = 0.5): Hermite 4th, leapfrog 2nd, RK45 tolerance-controlled") {
  // The largest relative energy error over one orbit (a = 1, G M = 1), sampled 200 times.
  auto error_with = [](const std::string& name, double p) {
    System s = named_problem("kepler", 0.5);
    const double e0 = energy(s);
    auto integ = make_integrator(name, p);
    double worst = 0;
    for (int k = 1; k <= 200; ++k) {
      integ->integrate_to(s, 2 * M_PI * k / 200);
      worst = std::max(worst, rel_energy_error(s, e0));
    }
    return worst;
  };
  const double h1 = error_with("hermite", 0.01), h2 = error_with("hermite", 0.005);
  CHECK(h1 / h2 > 12);  // 14.4 measured; 16 asymptotically for 4th order
  CHECK(h1 / h2 < 20);
  const double l1 = error_with("leapfrog", 2e-3), l2 = error_with("leapfrog", 1e-3);
  CHECK(l1 / l2 > 3);  // ~4 for 2nd order
  CHECK(l1 / l2 < 5);
  CHECK(error_with("rk45", 1e-12) < error_with("rk45", 1e-8));
}

TEST_CASE("collision time scale") {
  System s;
  s.m = {1, 1};
  s.x = {{0, 0, 0}, {1, 0, 0}};
  s.v = {{0, 0, 0}, {0, 0, 0}};
  CHECK(collision_time(s) == doctest::Approx(std::sqrt(0.5)));
  s.v[1] = {0, 0.1, 0};  // r/v = 10 > sqrt(1/2)
  CHECK(collision_time(s) == doctest::Approx(std::sqrt(0.5)));
  s.v[1] = {0, 10, 0};  // r/v = 0.1
  CHECK(collision_time(s) == doctest::Approx(0.1));
}

TEST_CASE("accelerations and jerks against finite differences, bad systems rejected") {
  System s = named_problem("pythagorean");
  s.v = {{0.1, 0.2, 0.0}, {-0.3, 0.1, 0.05}, {0.2, -0.1, 0.3}};
  std::vector<Vec3> a, j, ap, am;
  accelerations(s, a, &j);
  const double h = 1e-6;
  System sp = s, sm = s;
  for (size_t i = 0; i < 3; ++i)
    for (int k = 0; k < 3; ++k) {
      sp.x[i][k] += h * s.v[i][k];
      sm.x[i][k] -= h * s.v[i][k];
    }
  accelerations(sp, ap);
  accelerations(sm, am);
  for (size_t i = 0; i < 3; ++i)
    for (int k = 0; k < 3; ++k) CHECK(j[i][k] == doctest::Approx((ap[i][k] - am[i][k]) / (2 * h)).epsilon(1e-6));
  System bad = s;
  bad.m[1] = 0;
  CHECK_THROWS_AS(validate(bad, "ic.csv"), InputError);
  bad = s;
  bad.x[2] = bad.x[0];
  CHECK_THROWS_WITH_AS(validate(bad, "ic.csv"), doctest::Contains("coincide"), InputError);
  bad = s;
  bad.v[0][1] = NAN;
  CHECK_THROWS_AS(validate(bad, "ic.csv"), InputError);
  CHECK_THROWS_AS(make_integrator("verlet"), UsageError);
}

TEST_CASE("reward 5 values from the spec, the paper's initial conditions") {
  CHECK(reward5(1e-8, 1, 1e-3) == doctest::Approx(-12.3385).epsilon(1e-5));
  CHECK(reward5(1e-12, 1, 1e-3) == doctest::Approx(5.3843).epsilon(1e-5));
  CHECK(reward5(1e-2, 1, 0.1) == doctest::Approx(-3496.0).epsilon(1e-9));
  System a = paper_initial_conditions(7), b = paper_initial_conditions(7), c = paper_initial_conditions(8);
  CHECK((a.x == b.x));
  CHECK((a.x != c.x));
  Vec3 p = momentum(a);
  for (int k = 0; k < 3; ++k) CHECK(std::fabs(p[k]) < 1e-12);
  // Before the shift to the centre of mass: body 1 in [5, 20] x [0, 10], body 2 in [-10, 0] x [5, 20].
  // Body 0 started at the origin, so positions relative to it are the drawn ones.
  const double x1 = a.x[1][0] - a.x[0][0], x2 = a.x[2][0] - a.x[0][0];
  const double y1 = a.x[1][1] - a.x[0][1], y2 = a.x[2][1] - a.x[0][1];
  CHECK(y1 >= -1e-9);
  CHECK(y1 <= 10 + 1e-9);
  CHECK(y2 >= 5 - 1e-9);
  CHECK(y2 <= 20 + 1e-9);
  CHECK(x1 >= 5 - 1e-9);
  CHECK(x1 <= 20 + 1e-9);
  CHECK(x2 <= 1e-9);
  CHECK(x2 >= -10 - 1e-9);
}

TEST_CASE("environment: 13-d state, first reward 0, termination on the energy error, deterministic") {
  EnvOptions o;
  ThreeBodyEnv env(o);
  std::vector<double> s = env.reset(3);
  REQUIRE(s.size() == 13);
  CHECK(s[12] == doctest::Approx(16));  // no error yet: -log10 of the floor
  StepResult r1 = env.step(9);
  CHECK(r1.reward == 0);
  CHECK(r1.force_evaluations > 0);
  CHECK(env.system().t == doctest::Approx(0.1));
  StepResult r2 = env.step(9);
  CHECK(r2.reward == doctest::Approx(reward5(std::clamp(r2.energy_error, 1e-16, 0.1), 2, 0.1)));
  ThreeBodyEnv again(o);
  again.reset(3);
  again.step(9);
  CHECK(again.step(9).state == r2.state);
  EnvOptions strict = o;
  strict.max_error = 1e-300;  // any error ends the episode
  ThreeBodyEnv e2(strict);
  e2.reset(3);
  CHECK(e2.step(0).done);
}

TEST_CASE("error-cost reward: the potential by hand, per-step changes summing to the episode's error-vs-cost point") {
  // Phi = -log10 dE - w log10 F, hand-computed: dE = 1e-10, F = 1000, w = 0.5: 10 - 1.5.
  CHECK(error_cost_potential(1e-10, 1000, 0.5) == doctest::Approx(8.5).epsilon(1e-12));
  CHECK(error_cost_potential(1e-20, 1, 2) == doctest::Approx(16));        // floored at 1e-16, log10 1 = 0
  CHECK(error_cost_potential(5, 100, 1) == doctest::Approx(-2));          // dE capped at 1
  CHECK(error_cost_potential(INFINITY, 10, 3) == doctest::Approx(-3));    // diverged: dE = 1
  CHECK(error_cost_potential(1e-6, 0, 1) == doctest::Approx(6));          // F floored at 1
  const double w = 0.7;
  for (const std::string kind : {"error-cost", "error-cost-terminal"}) {
    EnvOptions o;
    o.reward = kind;
    o.cost_weight = w;
    o.steps = 6;
    ThreeBodyEnv env(o);
    env.reset(3);
    double prev = 0, total = 0;  // Phi before the first step: dE = 1, F = 1
    StepResult r;
    for (int k = 0; k < o.steps; ++k) {
      r = env.step(k % 2 ? 4 : 7);
      const double phi = -std::log10(std::max(r.energy_error, 1e-16)) - w * std::log10(static_cast<double>(env.force_evaluations()));
      if (kind == "error-cost") CHECK(r.reward == doctest::Approx(phi - prev).epsilon(1e-12));
      else CHECK(r.reward == (r.done ? doctest::Approx(phi).epsilon(1e-12) : doctest::Approx(0)));
      prev = phi;
      total += r.reward;
    }
    REQUIRE(r.done);
    CHECK(r.energy_error < 1e-3);  // a healthy episode: the threshold did not end it
    CHECK(total == doctest::Approx(-std::log10(r.energy_error) - w * std::log10(static_cast<double>(env.force_evaluations()))).epsilon(1e-12));
  }
  // An episode ended by the error threshold counts as diverged (dE = 1): its return is -w log10 F.
  EnvOptions strict;
  strict.reward = "error-cost";
  strict.cost_weight = w;
  strict.max_error = 1e-300;
  ThreeBodyEnv e2(strict);
  e2.reset(3);
  StepResult f = e2.step(9);
  REQUIRE(f.done);
  CHECK(f.reward == doctest::Approx(-w * std::log10(static_cast<double>(f.force_evaluations))));
  // Unknown rewards are usage errors, in the environment and in a training configuration.
  EnvOptions bad;
  bad.reward = "reward6";
  CHECK_THROWS_AS(ThreeBodyEnv{bad}, UsageError);
  TrainConfig c;
  c.env.reward = "error cost";
  CHECK_THROWS_AS(c.validate(), UsageError);
  c.env.reward = "error-cost-terminal";
  CHECK_NOTHROW(c.validate());
}

TEST_CASE("DQN update against a hand-computed case: Huber TD loss, one AdamW step, soft target update") {
  DqnOptions o;
  o.hidden = 2;
  o.repeats = 0;
  o.batch = 1;
  o.replay = 1;
  o.lr = 0.01;
  o.gamma = 0.5;
  o.tau = 0.1;
  o.weight_decay = 0;
  DqnAgent agent(13, 3, o, 1);
  {
    torch::NoGradGuard ng;
    for (auto& p : agent.policy->parameters()) p.zero_();
    for (auto& p : agent.target->parameters()) p.zero_();
    agent.policy->out->bias.copy_(torch::tensor({1.0f, 2.0f, 3.0f}));
    agent.target->out->bias.copy_(torch::tensor({4.0f, 0.5f, -1.0f}));
  }
  Transition t;
  t.s.assign(13, 0.3);
  t.s2.assign(13, -0.2);
  t.a = 1;
  t.r = 1.5;
  // Q(s, 1) = 2; target 1.5 + 0.5 * max(4, 0.5, -1) = 3.5; Huber(2 - 3.5) = 1.5 - 0.5 = 1.0.
  CHECK(dqn_loss(agent.policy, agent.target, {t}, o.gamma).item<double>() == doctest::Approx(1.0));
  // Double DQN: the policy picks a' = 2 (bias 3), the target values it at -1: target 1.0, Huber(1) = 0.5.
  CHECK(dqn_loss(agent.policy, agent.target, {t}, o.gamma, true).item<double>() == doctest::Approx(0.5));
  t.done = true;  // no bootstrap: target 1.5, |2 - 1.5| < 1: 0.5 * 0.25
  CHECK(dqn_loss(agent.policy, agent.target, {t}, o.gamma).item<double>() == doctest::Approx(0.125));
  t.done = false;
  agent.remember(t);
  agent.learn();
  // dL/db1 = -1 (Huber slope at -1.5): AdamW's first step moves the bias by +lr (m/sqrt(v) = sign).
  CHECK(agent.policy->out->bias[1].item<double>() == doctest::Approx(2.01).epsilon(1e-6));
  CHECK(agent.policy->out->bias[0].item<double>() == doctest::Approx(1.0));
  // Target: (1 - tau) 0.5 + tau 2.01.
  CHECK(agent.target->out->bias[1].item<double>() == doctest::Approx(0.9 * 0.5 + 0.1 * 2.01).epsilon(1e-6));
}

TEST_CASE("a policy's plain C++ forward pass equals the LibTorch network") {
  DqnOptions o;
  o.hidden = 32;
  o.repeats = 2;
  DqnAgent agent(13, 10, o, 4);
  auto dir = std::filesystem::temp_directory_path() / ("pk-policy-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  Policy p = to_policy(agent.policy, EnvOptions{});
  Rng rng(9);
  for (int k = 0; k < 50; ++k) {
    std::vector<double> s(13);
    for (auto& v : s) v = rng.normal();
    torch::Tensor t = torch::empty({1, 13});
    for (int i = 0; i < 13; ++i) t[0][i] = static_cast<float>(s[i]);
    torch::NoGradGuard ng;
    torch::Tensor q = agent.policy->forward(t)[0];
    std::vector<float> mine = p.q_values(s);
    for (int a = 0; a < 10; ++a) CHECK(mine[a] == doctest::Approx(q[a].item<float>()).epsilon(1e-5));
    CHECK(p.choose(s) == q.argmax().item<int64_t>());
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("policy files without LibTorch: the layout of the network's state dict, read back by both, bad files refused") {
  auto dir = test::scratch("nbody-policy-file");
  DqnOptions o;
  o.hidden = 16;
  o.repeats = 1;
  DqnAgent agent(13, 10, o, 5);
  EnvOptions env;
  env.steps = 7;
  env.reward = "error-cost";
  env.cost_weight = 0.25;
  env.actions = ThreeBodyEnv(env).options().actions;  // the 10 default eta
  const Policy p = to_policy(agent.policy, env);
  save_policy(dir / "p.safetensors", p, {{"note", "x"}});
  // The plain-C++ reader gives back the same weights and settings...
  const Policy back = load_policy(dir / "p.safetensors");
  CHECK(back.env.steps == 7);
  CHECK(back.env.reward == "error-cost");
  CHECK(back.env.cost_weight == 0.25);
  CHECK(back.repeats == 1);
  CHECK(back.in.w == p.in.w);
  CHECK(back.mid.b == p.mid.b);
  CHECK(back.out.w == p.out.w);
  // ... and the file is the network's state dict: LibTorch loads it strictly into a QNet.
  QNet net(13, 16, 1, 10);
  load_state_dict(*net, dir / "p.safetensors", true);
  const std::vector<double> s = observe(paper_initial_conditions(2), 1e-9);
  torch::Tensor t = torch::empty({1, 13});
  for (int i = 0; i < 13; ++i) t[0][i] = static_cast<float>(s[i]);
  torch::NoGradGuard ng;
  torch::Tensor q = net->forward(t)[0];
  const std::vector<float> mine = back.q_values(s);
  for (int a = 0; a < 10; ++a) CHECK(mine[a] == doctest::Approx(q[a].item<float>()).epsilon(1e-5));
  // Policies written by LibTorch (save_state_dict, as before this reader existed) read the same.
  Metadata meta = open_tensors(dir / "p.safetensors")->metadata();
  save_state_dict(*agent.policy, dir / "torch.safetensors", meta);
  CHECK(load_policy(dir / "torch.safetensors").out.w == p.out.w);
  // A file without the policy entry, or with a tensor of the wrong shape, is refused by name.
  save_state_dict(*agent.policy, dir / "plain.safetensors", {});
  CHECK_THROWS_WITH_AS(load_policy(dir / "plain.safetensors"), doctest::Contains("nbody_policy"), InputError);
  QNet wide(13, 17, 1, 10);
  save_state_dict(*wide, dir / "wide.safetensors", meta);
  CHECK_THROWS_WITH_AS(load_policy(dir / "wide.safetensors"), doctest::Contains("in.weight: shape"), InputError);
  std::filesystem::remove_all(dir);
}

TEST_CASE("Plummer sphere: n unit-total masses at rest in the centre-of-mass frame, E = -1/4 (N-body units)") {
  System s = plummer_sphere(2000, 7);
  REQUIRE(s.n() == 2000);
  double m = 0;
  for (double mi : s.m) m += mi;
  CHECK(m == doctest::Approx(1).epsilon(1e-12));
  for (int k = 0; k < 3; ++k) CHECK(std::fabs(momentum(s)[k]) < 1e-12);
  // Closed form: E = -(3 pi / 64) G M^2 / a with a = 3 pi / 16; 2000 samples scatter by a few percent.
  CHECK(energy(s) == doctest::Approx(-0.25).epsilon(0.05));
  // Virial equilibrium: 2T + W = 0 within the same sampling scatter.
  CHECK(2 * kinetic_energy(s) / -potential_energy(s) == doctest::Approx(1).epsilon(0.1));
  // Seeded: the same seed gives the same cluster.
  CHECK(plummer_sphere(2000, 7).x[1999] == s.x[1999]);
}

TEST_CASE("run_integration: samples and diagnostics of the figure-eight, bad problems and options rejected") {
  IntegrateOptions o;
  o.problem = "figure-eight";
  o.integrator = "ias15";
  o.t_end = kPeriod8;
  IntegrationResult r = run_integration(o);
  CHECK(r.bodies == 3);
  CHECK(r.t.size() == 201);  // the start and 200 samples
  CHECK(r.x.size() == 201);
  CHECK(r.v.size() == 201);
  CHECK(r.t.back() == doctest::Approx(kPeriod8).epsilon(1e-15));
  CHECK(r.relative_energy_error < 1e-12);
  CHECK(r.relative_energy_error == r.energy_error.back());
  CHECK(r.max_relative_energy_error == *std::max_element(r.energy_error.begin(), r.energy_error.end()));
  REQUIRE(r.parameter.has_value());
  CHECK(*r.parameter == 1e-9);
  CHECK_FALSE(r.policy_driven);
  nlohmann::json j = r;
  CHECK(j.at("parameter") == 1e-9);
  CHECK(j.at("bodies") == 3);
  CHECK_FALSE(j.contains("policy_choices"));
  CHECK(j.size() == 19);  // the diagnostics, not the samples
  IntegrateOptions both = o;
  both.input = "ic.csv";
  CHECK_THROWS_AS(run_integration(both), UsageError);
  IntegrateOptions bad = o;
  bad.problem = "paper:x";
  CHECK_THROWS_AS(run_integration(bad), UsageError);
  bad.problem = "plummer:0";
  CHECK_THROWS_AS(run_integration(bad), UsageError);
  bad.problem = "plummer:10001";  // direct summation: at most kMaxBodies
  CHECK_THROWS_WITH_AS(run_integration(bad), doctest::Contains("10000 bodies"), UsageError);
  bad.problem = "paper:-1";
  CHECK_THROWS_WITH_AS(run_integration(bad), doctest::Contains("not a whole number"), UsageError);
  bad.problem = "paper:99999999999999999999";
  CHECK_THROWS_WITH_AS(run_integration(bad), doctest::Contains("out of range"), UsageError);
  CHECK(problem_system("paper:18446744073709551615", units_named("nbody")).n() == 3);
  // Every number finite and in range, the flag named, before any work.
  auto refused = [&](auto change, const char* flag) {
    IntegrateOptions b = o;
    change(b);
    CAPTURE(flag);
    CHECK_THROWS_WITH_AS(run_integration(b), doctest::Contains(flag), UsageError);
  };
  refused([](IntegrateOptions& b) { b.t_end = NAN; }, "--t-end");
  refused([](IntegrateOptions& b) { b.t_end = INFINITY; }, "--t-end");
  refused([](IntegrateOptions& b) { b.t_end = -1; }, "--t-end");
  refused([](IntegrateOptions& b) { b.parameter = -1; }, "--param");  // was silently the default
  refused([](IntegrateOptions& b) { b.parameter = 0; }, "--param");
  refused([](IntegrateOptions& b) { b.parameter = NAN; }, "--param");
  refused([](IntegrateOptions& b) { b.parameter = 2; }, "--param");  // IAS15's epsilon is in (0, 1]
  refused([](IntegrateOptions& b) { b.output_every = NAN; }, "--output-every");
  refused([](IntegrateOptions& b) { b.output_every = 1e-300; }, "--output-every");  // 1e300 samples
  refused([](IntegrateOptions& b) { b.max_steps = 0; }, "--max-steps");
  refused([](IntegrateOptions& b) { b.policy = "p.safetensors", b.decision_interval = NAN; }, "--decision-interval");
  refused([](IntegrateOptions& b) { b.policy = "p.safetensors", b.decision_interval = 1e-300; }, "--decision-interval");
  // A fixed-step run that cannot fit in --max-steps is refused up front, naming both flags.
  refused([](IntegrateOptions& b) { b.integrator = "leapfrog", b.parameter = 1e-300; }, "--max-steps");
  // An adaptive run is bounded while it runs: exit 1 at the budget, not a run of 1e300 time units.
  IntegrateOptions endless = o;
  endless.t_end = 1e300;
  endless.max_steps = 1000;
  CHECK_THROWS_WITH_AS(run_integration(endless), doctest::Contains("--max-steps"), Error);
  try {
    run_integration(endless);
  } catch (const Error& e) {
    CHECK(e.exit_code() == 1);
  }
  CHECK(problem_system("plummer:5:2", units_named("nbody")).n() == 5);
  CHECK(problem_system("paper:3", units_named("nbody")).x[1] == paper_initial_conditions(3).x[1]);
}

TEST_CASE("train_dqn: typed result, stopped and resumed equals one run, a stopped run has no policy") {
  auto dir = test::scratch("nbody-train");
  TrainConfig c;
  c.episodes = 3;
  c.env.steps = 5;
  c.dqn.hidden = 8;
  c.dqn.batch = 4;
  c.seed = 2;
  TrainResult one = train_dqn(c);
  CHECK(one.finished);
  CHECK(one.episodes_done == 3);
  CHECK(one.agent_steps >= 3);
  CHECK(one.agent_steps <= 15);
  REQUIRE_FALSE(one.policy.empty());
  c.checkpoint.path = dir / "ck.safetensors";
  c.checkpoint.stop_after = 2;
  TrainResult part = train_dqn(c);
  CHECK_FALSE(part.finished);
  CHECK(part.episodes_done == 2);
  CHECK(part.policy.empty());
  CHECK(std::filesystem::exists(c.checkpoint.path));
  c.checkpoint.stop_after = 0;
  c.checkpoint.resume = true;
  TrainResult rest = train_dqn(c);
  CHECK(rest.finished);
  CHECK(rest.episodes_done == 3);
  CHECK(rest.agent_steps == one.agent_steps);
  CHECK(rest.mean_return_last_10 == one.mean_return_last_10);
  REQUIRE_FALSE(rest.policy.empty());
  for (auto [a, b] : {std::pair{&one.policy.in, &rest.policy.in}, {&one.policy.mid, &rest.policy.mid}, {&one.policy.out, &rest.policy.out}}) {
    CHECK(a->w == b->w);
    CHECK(a->b == b->b);
  }
  nlohmann::json j = rest;
  CHECK(j.at("episodes_done") == 3);
  CHECK(j.at("finished") == true);
  // The policy written and read back chooses as the trained one.
  save_policy(dir / "p.safetensors", rest.policy, {});
  Policy p = load_policy(dir / "p.safetensors");
  CHECK(p.env.steps == 5);
  const std::vector<double> s = observe(paper_initial_conditions(1), 1e-10);
  CHECK(p.q_values(s) == rest.policy.q_values(s));
  // Stopping needs a checkpoint to continue from.
  TrainConfig no_ck = c;
  no_ck.checkpoint = {};
  no_ck.checkpoint.stop_after = 1;
  CHECK_THROWS_AS(train_dqn(no_ck), UsageError);
  std::filesystem::remove_all(dir);
}

TEST_CASE("run_evaluation: the policy, every fixed eta and the default eta on each held-out seed") {
  auto dir = test::scratch("nbody-evaluate");
  DqnOptions o;
  o.hidden = 8;
  DqnAgent agent(ThreeBodyEnv::kStateSize, 2, o, 1);
  EnvOptions env;
  env.steps = 3;
  env.actions = {1e-3, 1e-2};
  Policy p = to_policy(agent.policy, env);
  save_policy(dir / "p.safetensors", p, {});
  EvaluateOptions e;
  e.policy = (dir / "p.safetensors").string();
  e.seeds = 2;
  EvaluationReport r = run_evaluation(e);
  REQUIRE(r.strategies.size() == 4);  // policy, 2 fixed, default
  CHECK(r.strategies[0].kind == StrategyKind::policy);
  CHECK_FALSE(r.strategies[0].eta.has_value());
  CHECK(r.strategies[1].kind == StrategyKind::fixed);
  CHECK(*r.strategies[1].eta == 1e-3);
  CHECK(r.strategies[3].kind == StrategyKind::default_eta);
  CHECK(*r.strategies[3].eta == 0.03);
  CHECK(r.records.size() == 8);
  CHECK(r.records[0].seed == 1000000);
  CHECK(r.records[7].seed == 1000001);
  for (const auto& rec : r.records) CHECK(rec.rl_steps == 3);
  // The best fixed eta has the lower mean log10 error of the two.
  const auto& lo = r.strategies[1].mean_log10_energy_error <= r.strategies[2].mean_log10_energy_error ? r.strategies[1] : r.strategies[2];
  CHECK(r.best_fixed == lo.strategy);
  CHECK(r.best_fixed_mean_log10_error == lo.mean_log10_energy_error);
  nlohmann::json j = r;
  CHECK(j.at("strategies").size() == 4);
  CHECK(j.at("strategies")[0].at("eta").is_null());
  CHECK_FALSE(j.contains("records"));
  std::filesystem::remove_all(dir);
}
