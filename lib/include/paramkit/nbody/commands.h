// The nbody-rl command layer: integrate (initial conditions in; trajectory, diagnostics and plots out;
// a fixed parameter or a trained policy choosing eta), evaluate (a policy against every fixed eta on
// held-out seeds: energy error vs force evaluations and wall time, with the Pareto plot), and the
// flags of train.
#pragma once
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "paramkit/nbody/dqn.h"

namespace paramkit::nbody {

struct IntegrateOptions {
  std::string input, problem, units = "nbody", integrator = "ias15", policy;
  double parameter = 0, t_end = 1, output_every = 0, decision_interval = 0.1;
  std::string out, diagnostics, plot_orbits, plot_energy;
  void register_flags(CLI::App& app);
};
nlohmann::json run_integrate(const IntegrateOptions& o);

struct EvaluateOptions {
  std::string policy, integrator;  // integrator: empty = the policy's (another one: the transfer experiment)
  int seeds = 20;
  uint64_t seed_offset = 1000000;  // held out: training uses seed * 100000 + episode
  std::string out, csv, plot;
  void register_flags(CLI::App& app);
};
nlohmann::json run_evaluate(const EvaluateOptions& o);

struct TrainFlags {
  TrainConfig config;
  std::string integrator = "hermite";
  double cost_weight = 0;
  void register_flags(CLI::App& app);
  TrainConfig resolve(uint64_t seed) const;
};

// Plummer sphere of n equal masses (total 1, G = 1, virial equilibrium), seeded.
System plummer_sphere(int n, uint64_t seed);

}  // namespace paramkit::nbody
