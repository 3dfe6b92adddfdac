#include "paramkit/nbody/env.h"

#include <algorithm>
#include <cmath>

#include "paramkit/core/error.h"
#include "paramkit/core/rng.h"

namespace paramkit::nbody {

System paper_initial_conditions(uint64_t seed) {
  Rng rng(seed);
  System s;
  s.G = 4 * M_PI * M_PI;
  s.m = {1, 1, 1};
  const double v = 10 * kKmPerSInAuPerYr;
  const double x1 = 5 + 15 * rng.uniform(), y1 = 10 * rng.uniform();
  const double x2 = -10 * rng.uniform(), y2 = 5 + 15 * rng.uniform();
  s.x = {{0, 0, 0}, {x1, y1, 0}, {x2, y2, 0}};
  s.v = {{0, v, 0}, {-v, 0, 0}, {0, 0, 0}};
  to_center_of_mass(s);
  return s;
}

double reward5(double dE, int i, double eta, const RewardWeights& w) {
  const double l = std::log10(dE);
  return -w.w0 * std::log10(dE / 1e-10) / (std::pow(std::fabs(l), 3) * i) + w.w2 / std::fabs(std::log10(eta));
}

const std::vector<std::string>& reward_names() {
  static const std::vector<std::string> names = {"reward5", "error-cost", "error-cost-terminal"};
  return names;
}

double error_cost_potential(double dE, int64_t force_evaluations, double w) {
  const double e = std::isfinite(dE) ? std::clamp(dE, 1e-16, 1.0) : 1.0;
  return -std::log10(e) - w * std::log10(std::max<double>(1.0, static_cast<double>(force_evaluations)));
}

double EnvOptions::parameter_for(double eta) const {
  if (integrator == "hermite") return eta;
  // eta in [1e-4, 0.1] -> tolerance in [1e-13, 1e-4] (log-linear; below ~1e-14 no double step meets it).
  if (integrator == "rk45" || integrator == "ias15") return 0.1 * eta * eta * eta;
  return eta * step_time;  // leapfrog: a fixed step
}

ThreeBodyEnv::ThreeBodyEnv(EnvOptions o) : o_(std::move(o)) {
  if (o_.actions.empty())
    for (int k = 0; k < 10; ++k) o_.actions.push_back(std::pow(10.0, -4 + 3.0 * k / 9));
  integ_ = make_integrator(o_.integrator, o_.parameter_for(o_.actions[0]));
  if (o_.steps <= 0 || !(o_.step_time > 0)) throw UsageError("episode steps and step time must be positive");
  const auto& names = reward_names();
  if (std::find(names.begin(), names.end(), o_.reward) == names.end())
    throw UsageError("--reward: one of reward5, error-cost, error-cost-terminal, got '" + o_.reward + "'");
}

std::vector<double> ThreeBodyEnv::reset(uint64_t seed) { return reset(paper_initial_conditions(seed)); }

std::vector<double> ThreeBodyEnv::reset(const System& s) {
  if (s.n() != 3) throw UsageError("the environment's state describes exactly three bodies, got " + std::to_string(s.n()));
  sys_ = s;
  e0_ = energy(sys_);
  i_ = 0;
  potential_ = 0;
  integ_->reset();
  integ_->stats = {};
  return state();
}

double ThreeBodyEnv::energy_error() const { return std::fabs((energy(sys_) - e0_) / e0_); }

std::vector<double> observe(const System& s, double energy_error) {
  const double v_unit = std::sqrt(s.G * 3.0 / 1.0);  // sqrt(G M / L), M = 3 Msun, L = 1 au
  std::vector<double> st;
  for (size_t b = 0; b < 3; ++b)
    for (int k = 0; k < 2; ++k) st.push_back(s.x[b][k] / 10);
  for (size_t b = 0; b < 3; ++b)
    for (int k = 0; k < 2; ++k) st.push_back(s.v[b][k] / v_unit);
  st.push_back(-std::log10(std::max(energy_error, 1e-16)));
  return st;
}

std::vector<double> ThreeBodyEnv::state() const { return observe(sys_, energy_error()); }

StepResult ThreeBodyEnv::step(int action) {
  if (action < 0 || action >= static_cast<int>(o_.actions.size())) throw UsageError("action out of range");
  const double eta = o_.actions[action];
  integ_->set_parameter(o_.parameter_for(eta));
  const int64_t before = integ_->stats.force_evaluations;
  integ_->max_force_evaluations = before + o_.max_evaluations_per_step;
  ++i_;
  StepResult r;
  try {
    integ_->integrate_to(sys_, i_ * o_.step_time);
  } catch (const Interrupted&) {
    throw;  // SIGINT/SIGTERM: not a failure of the step
  } catch (const Error&) {
    // A collapsed step (a collision) ends the episode like a blown energy error.
    r.energy_error = INFINITY;
    r.done = true;
    r.force_evaluations = integ_->stats.force_evaluations - before;
    r.reward = o_.reward == "reward5" ? reward5(o_.max_error, i_, eta, o_.weights) : aligned_reward(r.energy_error, true);
    if (o_.reward_clip > 0) r.reward = std::clamp(r.reward, -o_.reward_clip, o_.reward_clip);
    r.state = state();
    return r;
  }
  r.force_evaluations = integ_->stats.force_evaluations - before;
  r.energy_error = energy_error();
  // Clamped to [1e-16, max_error]: beyond the termination threshold reward 5 diverges (|log10 dE| -> 0).
  const double dE = std::clamp(r.energy_error, 1e-16, o_.max_error);
  r.done = r.energy_error > o_.max_error || i_ >= o_.steps;
  if (o_.reward == "reward5") {
    // The first step's reward is 0 (the paper's convention); afterwards reward 5 with the step index.
    r.reward = i_ == 1 ? 0.0 : reward5(dE, i_, eta, o_.weights);
    if (o_.cost_weight > 0) r.reward -= o_.cost_weight * std::log10(1.0 + static_cast<double>(r.force_evaluations));
  } else {
    // An episode ended by the error threshold counts as diverged (dE = 1), as a collapse does.
    r.reward = aligned_reward(r.energy_error > o_.max_error ? INFINITY : r.energy_error, r.done);
  }
  if (o_.reward_clip > 0) r.reward = std::clamp(r.reward, -o_.reward_clip, o_.reward_clip);
  r.state = state();
  return r;
}

double ThreeBodyEnv::aligned_reward(double energy_error, bool done) {
  const double phi = error_cost_potential(energy_error, integ_->stats.force_evaluations, o_.cost_weight);
  const double r = o_.reward == "error-cost" ? phi - potential_ : (done ? phi : 0.0);
  potential_ = phi;
  return r;
}

}  // namespace paramkit::nbody
