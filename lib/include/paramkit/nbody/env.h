// The paper's reinforcement-learning environment (Saz Ulibarrena & Portegies Zwart 2025): three 1 Msun
// bodies from seeded initial conditions, an episode of 100 steps of 0.1 yr in which the agent picks the
// time-step parameter eta of the integrator from 10 log-spaced values, a 13-d state and "reward 5" (or
// the reward aligned with the error-versus-cost comparison).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "paramkit/nbody/integrators.h"
#include "paramkit/nbody/system.h"

namespace paramkit::nbody {

// Units of the environment: Msun, au, yr (G = 4 pi^2). km/s in au/yr:
constexpr double kKmPerSInAuPerYr = 0.210944692;
// N-body units of the state: M = 3 Msun (the total mass), L = 1 au, so velocities are divided by
// sqrt(G M / L): the reference code's converter, nbody_to_si(bodies.mass.sum(), 1 au).

// Initial conditions of the paper for a seed: body 0 at the origin moving (0, 10, 0) km/s, body 1
// uniform in [5, 20] x [0, 10] au moving (-10, 0, 0) km/s, body 2 uniform in [-10, 0] x [5, 20] au at
// rest; then the centre-of-mass frame.
System paper_initial_conditions(uint64_t seed);

struct RewardWeights {
  double w0 = 3500, w1 = 0, w2 = 4;
};
// R_i = -W0 log10(dE / 1e-10) / (|log10 dE|^3 i) + W2 / |log10 eta|, dE = |dE/E0| > 0, i >= 1.
double reward5(double dE, int i, double eta, const RewardWeights& w = {});

// The rewards a training run can use (--reward):
//  "reward5"              the paper's reward 5 (per step; --cost-weight w subtracts w log10 of the step's
//                         force evaluations);
//  "error-cost"           aligned with the evaluation: per step the change of the potential
//                         Phi = -log10 dE - w log10 F (dE the relative energy error, F the force
//                         evaluations since the episode began; Phi = 0 before the first step), so an
//                         episode's undiscounted return is Phi at its end: the quantity the error-versus-
//                         cost comparison ranks;
//  "error-cost-terminal"  the same return as one reward at the episode's end (0 before).
const std::vector<std::string>& reward_names();
// Phi = -log10(clamp(dE, 1e-16, 1)) - w log10(max(F, 1)); a diverged run (dE not finite) counts as dE = 1.
double error_cost_potential(double dE, int64_t force_evaluations, double w);

// The 13-d state of three bodies: positions / 10 and velocities in N-body units (x, y of each body),
// and -log10 of the relative energy error (floored at 1e-16).
std::vector<double> observe(const System& s, double energy_error);

struct EnvOptions {
  std::string integrator = "hermite";
  int steps = 100;           // RL steps per episode
  double step_time = 0.1;    // yr per RL step
  double max_error = 0.1;    // the episode ends when |dE/E0| exceeds this
  std::vector<double> actions;  // eta values; empty: 10 log-spaced in [1e-4, 0.1]
  RewardWeights weights;
  std::string reward = "reward5";  // one of reward_names()
  // reward5: > 0 charges force evaluations, R - w log10(evaluations of the step); error-cost(-terminal):
  // the weight w of log10(force evaluations) against -log10 |dE/E0|.
  double cost_weight = 0;
  int64_t max_evaluations_per_step = 2000000;  // beyond: the episode ends as a failure
  double reward_clip = 0;    // > 0: rewards clipped to [-clip, clip] (not in the paper; tames outliers)
  // Maps an eta action to the integrator's parameter (Hermite: eta itself; for the transfer
  // experiment, RK45's tolerance and IAS15's epsilon as 0.1 eta^3, i.e. [1e-13, 1e-4] for eta in
  // [1e-4, 0.1], and leapfrog's fixed dt as eta * step_time).
  double parameter_for(double eta) const;
};

struct StepResult {
  std::vector<double> state;
  double reward = 0, energy_error = 0;
  bool done = false;
  int64_t force_evaluations = 0;  // in this step
};

class ThreeBodyEnv {
 public:
  explicit ThreeBodyEnv(EnvOptions o);
  std::vector<double> reset(uint64_t seed);
  std::vector<double> reset(const System& s);
  StepResult step(int action);
  const System& system() const { return sys_; }
  const EnvOptions& options() const { return o_; }
  int steps_done() const { return i_; }
  double energy_error() const;
  int64_t force_evaluations() const { return integ_->stats.force_evaluations; }
  // Whether a step stops at SIGINT/SIGTERM (Interrupted) within its integration (default) or runs
  // to its end (training: the episode ends whole, then the checkpoint is written).
  void stop_on_signal(bool on) { integ_->stop_on_signal = on; }
  static constexpr int kStateSize = 13;

 private:
  std::vector<double> state() const;
  double aligned_reward(double energy_error, bool done);  // error-cost(-terminal); updates potential_
  EnvOptions o_;
  std::unique_ptr<Integrator> integ_;
  System sys_;
  double e0_ = 0;
  int i_ = 0;
  double potential_ = 0;  // error-cost: Phi after the last step
};

}  // namespace paramkit::nbody
