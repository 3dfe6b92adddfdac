// The paper's comparison: a trained policy against every fixed eta of its action set and AMUSE's default
// eta = 0.03 on held-out seeds of the environment (energy error at the end of the episode vs force
// evaluations and wall time), and where the fixed-eta front stands at the policy's cost.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace paramkit::nbody {

struct EvaluateOptions {
  std::string policy;      // a policy from train_dqn
  std::string integrator;  // empty: the policy's (another one: the transfer experiment)
  int seeds = 20;
  uint64_t seed_offset = 1000000;  // held out: training uses seed * 100000 + episode
  void validate() const;           // UsageError for no policy or seeds < 1
};

enum class StrategyKind { policy, fixed, default_eta };

struct StrategyRow {
  std::string strategy;  // "policy", "eta=0.000215", "eta=0.03 (default)"
  StrategyKind kind = StrategyKind::fixed;
  std::optional<double> eta;  // empty for the policy (and a non-finite action)
  double median_energy_error = 0;  // 10^(median of log10 errors)
  double mean_log10_energy_error = 0, mean_force_evaluations = 0, mean_wall_s = 0, mean_return = 0;
};

// One episode of one strategy.
struct SeedRecord {
  std::string strategy;
  uint64_t seed = 0;
  double energy_error = 0;  // at the end, floored at 1e-16; 1 when it diverged
  int64_t force_evaluations = 0;
  double wall_s = 0;
  int rl_steps = 0;
};

struct EvaluationReport {
  std::string policy, integrator;
  int seeds = 0;
  uint64_t seed_offset = 0;
  std::vector<StrategyRow> strategies;  // the policy, each fixed eta, the default eta
  double policy_mean_log10_error = 0;
  // log-log interpolation of the fixed-eta front at the policy's mean cost; empty outside the front
  std::optional<double> fixed_front_mean_log10_error_at_policy_cost;
  std::string best_fixed;  // the fixed eta with the lowest mean log10 error
  double best_fixed_mean_log10_error = 0;
  double default_eta_mean_log10_error = 0;
  std::vector<SeedRecord> records;  // per seed and strategy
};
// The report (everything but the per-seed records).
void to_json(nlohmann::json& j, const EvaluationReport& r);

EvaluationReport run_evaluation(const EvaluateOptions& o);

}  // namespace paramkit::nbody
