#include "paramkit/nbody/evaluate.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cmath>
#include <map>

#include "paramkit/core/error.h"
#include "paramkit/core/progress.h"
#include "paramkit/core/signals.h"
#include "paramkit/nbody/policy.h"
#include "paramkit/nbody/env.h"

namespace paramkit::nbody {
namespace {
nlohmann::json finite_or_null(const std::optional<double>& v) {
  return v && std::isfinite(*v) ? nlohmann::json(*v) : nlohmann::json(nullptr);
}
double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? NAN : s / static_cast<double>(v.size());
}
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? NAN : (v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]));
}
}  // namespace

void EvaluateOptions::validate() const {
  if (policy.empty()) throw UsageError("--policy: a policy from 'nbody-rl train' is required");
  if (seeds < 1 || seeds > 100000) throw UsageError("--seeds: between 1 and 100000, got " + std::to_string(seeds));
  if (seed_offset > UINT64_MAX - static_cast<uint64_t>(seeds)) throw UsageError("--seed-offset: the last seed would pass 2^64 - 1");
  if (!integrator.empty()) make_integrator(integrator);  // UsageError for unknown names, before any work
}

void to_json(nlohmann::json& j, const EvaluationReport& r) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& s : r.strategies)
    rows.push_back({{"strategy", s.strategy},
                    {"eta", finite_or_null(s.eta)},
                    {"median_energy_error", s.median_energy_error},
                    {"mean_log10_energy_error", s.mean_log10_energy_error},
                    {"mean_force_evaluations", s.mean_force_evaluations},
                    {"mean_wall_s", s.mean_wall_s},
                    {"mean_return", s.mean_return}});
  j = {{"policy", r.policy},
       {"integrator", r.integrator},
       {"seeds", r.seeds},
       {"seed_offset", r.seed_offset},
       {"strategies", rows},
       {"policy_mean_log10_error", r.policy_mean_log10_error},
       {"fixed_front_mean_log10_error_at_policy_cost", finite_or_null(r.fixed_front_mean_log10_error_at_policy_cost)},
       {"best_fixed", r.best_fixed},
       {"best_fixed_mean_log10_error", r.best_fixed_mean_log10_error},
       {"default_eta_mean_log10_error", r.default_eta_mean_log10_error}};
}

EvaluationReport run_evaluation(const EvaluateOptions& o) {
  o.validate();
  Policy p = load_policy(o.policy);
  EnvOptions env = p.env;
  if (!o.integrator.empty()) env.integrator = o.integrator;
  // Strategies: the policy, every fixed action, and AMUSE's default eta = 0.03 ("commonly used").
  struct Strategy {
    std::string name;
    int fixed = -1;  // action index; -1 policy; -2 the default eta
  };
  std::vector<Strategy> strategies = {{"policy", -1}};
  for (size_t a = 0; a < env.actions.size(); ++a) strategies.push_back({"eta=" + std::to_string(env.actions[a]).substr(0, 8), static_cast<int>(a)});
  EnvOptions env_default = env;
  env_default.actions.push_back(0.03);
  strategies.push_back({"eta=0.03 (default)", -2});
  EvaluationReport rep;
  std::map<std::string, std::vector<double>> log_err, fe, wall, ret;
  Progress progress("seeds", o.seeds);
  for (int k = 0; k < o.seeds; ++k) {
    progress.update(k);
    const uint64_t seed = o.seed_offset + static_cast<uint64_t>(k);
    for (const auto& st : strategies) {
      check_stop();
      ThreeBodyEnv e(st.fixed == -2 ? env_default : env);
      std::vector<double> state = e.reset(seed);
      const auto t0 = std::chrono::steady_clock::now();
      StepResult r;
      double total = 0;
      do {
        const int a = st.fixed == -1 ? p.choose(state) : st.fixed == -2 ? static_cast<int>(env_default.actions.size()) - 1 : st.fixed;
        r = e.step(a);
        total += r.reward;
        state = r.state;
      } while (!r.done);
      ret[st.name].push_back(total);
      const double w = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double err = std::isfinite(r.energy_error) ? std::max(r.energy_error, 1e-16) : 1.0;
      log_err[st.name].push_back(std::log10(err));
      fe[st.name].push_back(static_cast<double>(e.force_evaluations()));
      wall[st.name].push_back(w);
      rep.records.push_back({st.name, seed, err, e.force_evaluations(), w, e.steps_done()});
    }
  }
  progress.finish();
  for (const auto& st : strategies) {
    StrategyRow row;
    row.strategy = st.name;
    row.kind = st.fixed >= 0 ? StrategyKind::fixed : st.fixed == -2 ? StrategyKind::default_eta : StrategyKind::policy;
    if (st.fixed >= 0) row.eta = env.actions[st.fixed];
    else if (st.fixed == -2) row.eta = 0.03;
    row.median_energy_error = std::pow(10.0, median(log_err[st.name]));
    row.mean_log10_energy_error = mean(log_err[st.name]);
    row.mean_force_evaluations = mean(fe[st.name]);
    row.mean_wall_s = mean(wall[st.name]);
    row.mean_return = mean(ret[st.name]);
    rep.strategies.push_back(row);
  }
  // Energy error of the fixed-eta front at the policy's cost: log-log interpolation between the fixed
  // strategies whose mean costs bracket the policy's.
  std::vector<std::pair<double, double>> front;
  for (size_t i = 1; i + 1 < strategies.size(); ++i)
    front.push_back({std::log10(mean(fe[strategies[i].name])), mean(log_err[strategies[i].name])});
  std::sort(front.begin(), front.end());
  const double pc = std::log10(mean(fe["policy"]));
  double at_cost = NAN;
  for (size_t i = 0; i + 1 < front.size(); ++i)
    if (front[i].first <= pc && pc <= front[i + 1].first && front[i + 1].first > front[i].first) {
      const double w = (pc - front[i].first) / (front[i + 1].first - front[i].first);
      at_cost = front[i].second + w * (front[i + 1].second - front[i].second);
    }
  // Best fixed eta: the lowest mean log error.
  std::string best;
  double best_err = INFINITY;
  for (size_t i = 1; i + 1 < strategies.size(); ++i)
    if (mean(log_err[strategies[i].name]) < best_err) {
      best_err = mean(log_err[strategies[i].name]);
      best = strategies[i].name;
    }
  rep.policy = o.policy;
  rep.integrator = env.integrator;
  rep.seeds = o.seeds;
  rep.seed_offset = o.seed_offset;
  rep.policy_mean_log10_error = mean(log_err["policy"]);
  if (std::isfinite(at_cost)) rep.fixed_front_mean_log10_error_at_policy_cost = at_cost;
  rep.best_fixed = best;
  rep.best_fixed_mean_log10_error = best_err;
  rep.default_eta_mean_log10_error = mean(log_err["eta=0.03 (default)"]);
  return rep;
}

}  // namespace paramkit::nbody
