// One integration as nbody-rl's `integrate` runs it: initial conditions (a file or a named problem) in,
// sampled trajectory and diagnostics (energy, angular momentum, work, wall time) out, with the step
// parameter fixed or chosen by a trained policy every decision interval.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "paramkit/nbody/integrators.h"
#include "paramkit/nbody/system.h"

namespace paramkit::nbody {

struct IntegrateOptions {
  std::string input;    // initial conditions: CSV or JSON (read_initial_conditions) ...
  std::string problem;  // ... or a named problem: figure-eight, pythagorean, kepler, paper:SEED, plummer:N[:SEED]
  std::string units = "nbody", integrator = "ias15";
  std::string policy;                // a policy from train_dqn chooses eta every decision_interval (three bodies)
  std::optional<double> parameter;   // the integrator's parameter; empty: its default
  double t_end = 1;                  // integration time from the start
  double output_every = 0;           // sampling interval; 0: t_end / 200
  double decision_interval = 0.1;
  int64_t max_steps = 100000000;     // steps (accepted and rejected) before the run fails (exit 1)
  // UsageError, naming the flag, unless exactly one of input/problem is given, every number is finite
  // and in range, and a fixed-step run (leapfrog) fits in max_steps.
  void validate() const;
};

// Bodies a run may have: direct summation costs n^2/2 pair interactions a force evaluation (10^4
// bodies: 5e7, about half a second on one core).
constexpr size_t kMaxBodies = 10000;
// Samples x bodies a run may keep in memory for its trajectory (48 bytes each).
constexpr double kMaxSampleValues = 1e7;

// The initial conditions of a named problem (see IntegrateOptions::problem); UsageError otherwise.
System problem_system(const std::string& problem, const Units& units);

struct PolicyChoice {
  double eta = 0;
  int64_t decisions = 0;
};

struct IntegrationResult {
  std::string source;  // the file or problem name
  size_t bodies = 0;
  double G = 1;
  std::string integrator;
  std::optional<double> parameter;  // empty when a policy chose it
  double t_end = 0;                 // the time reached
  double energy_initial = 0, energy_final = 0;
  double relative_energy_error = 0, max_relative_energy_error = 0;  // final, and max over the samples
  Vec3 angular_momentum_initial{0, 0, 0};
  double angular_momentum_change = 0, momentum_change = 0;  // max over components of |final - initial|
  IntegratorStats stats;
  double wall_s = 0, ns_per_step = 0, force_evaluations_per_s = 0;
  bool policy_driven = false;
  std::vector<PolicyChoice> policy_choices;  // by eta, ascending
  // The samples: times, positions and velocities of every body, relative energy error.
  std::vector<double> t, energy_error;
  std::vector<std::vector<Vec3>> x, v;
};
// The diagnostics (everything but the samples).
void to_json(nlohmann::json& j, const IntegrationResult& r);

// InputError/UsageError (exit 2) for bad initial conditions, integrators or policies, before any work.
IntegrationResult run_integration(const IntegrateOptions& o);

}  // namespace paramkit::nbody
