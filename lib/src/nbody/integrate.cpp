#include "paramkit/nbody/integrate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>

#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"
#include "paramkit/nbody/policy.h"
#include "paramkit/nbody/env.h"

namespace paramkit::nbody {
namespace {
// A non-negative whole number in a problem name ("paper:3", "plummer:100:7").
uint64_t problem_number(const std::string& text, const std::string& problem) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
    throw UsageError("--problem " + problem + ": '" + text + "' is not a whole number");
  // At most 2^64 - 1 (20 digits), checked without the library's bare "stoull" exceptions.
  const std::string digits = text.substr(std::min(text.find_first_not_of('0'), text.size()));
  if (digits.size() > 20 || (digits.size() == 20 && digits > "18446744073709551615"))
    throw UsageError("--problem " + problem + ": '" + text.substr(0, 24) + (text.size() > 24 ? "..." : "") + "' is out of range (at most 18446744073709551615)");
  uint64_t v = 0;
  for (char ch : digits) v = v * 10 + static_cast<uint64_t>(ch - '0');
  return v;
}
}  // namespace

namespace {
void finite_positive(double v, const char* flag) {
  if (!std::isfinite(v) || !(v > 0)) throw UsageError(std::string(flag) + ": must be a positive finite number, got " + short_number(v));
}
}  // namespace

void IntegrateOptions::validate() const {
  if (input.empty() == problem.empty()) throw UsageError("give initial conditions (a file) or --problem, not both");
  finite_positive(t_end, "--t-end");
  if (!std::isfinite(output_every) || output_every < 0)
    throw UsageError("--output-every: must be a positive finite number (0: t-end / 200), got " + short_number(output_every));
  if (output_every > 0 && t_end / output_every > kMaxSampleValues)
    throw UsageError("--output-every " + short_number(output_every) + ": " + short_number(t_end / output_every) + " samples to --t-end " + short_number(t_end) +
                     "; at most " + short_number(kMaxSampleValues));
  if (max_steps < 1 || max_steps > 1000000000000000LL) throw UsageError("--max-steps: between 1 and 1e15, got " + std::to_string(max_steps));
  if (!policy.empty()) {
    finite_positive(decision_interval, "--decision-interval");
    if (t_end / decision_interval > static_cast<double>(max_steps))
      throw UsageError("--decision-interval " + short_number(decision_interval) + ": " + short_number(t_end / decision_interval) +
                       " decisions to --t-end, more than --max-steps " + short_number(static_cast<double>(max_steps)));
  }
  if (parameter) {
    const double p = *parameter;
    finite_positive(p, "--param");
    // Each parameter's meaningful range: a step factor, a fixed step, a relative accuracy.
    if (integrator == "hermite" && p > 10) throw UsageError("--param: hermite's eta is a step factor in (0, 10], got " + short_number(p));
    if ((integrator == "ias15" || integrator == "rk45") && p > 1)
      throw UsageError("--param: " + integrator + "'s " + (integrator == "ias15" ? "epsilon" : "tolerance") + " is in (0, 1], got " + short_number(p));
    if (integrator == "leapfrog" && std::ceil(t_end / p) > static_cast<double>(max_steps))
      throw UsageError("--param: leapfrog's fixed step " + short_number(p) + " takes " + short_number(std::ceil(t_end / p)) + " steps to --t-end " + short_number(t_end) +
                       ", more than --max-steps " + short_number(static_cast<double>(max_steps)));
  }
}

System problem_system(const std::string& problem, const Units& u) {
  if (problem.rfind("paper:", 0) == 0) return paper_initial_conditions(problem_number(problem.substr(6), problem));
  if (problem.rfind("plummer:", 0) == 0) {
    const std::string rest = problem.substr(8);
    const size_t c = rest.find(':');
    const uint64_t n = problem_number(rest.substr(0, c), problem);
    if (n < 2 || n > kMaxBodies) throw UsageError("--problem " + problem + ": between 2 and " + std::to_string(kMaxBodies) + " bodies (direct summation)");
    return plummer_sphere(static_cast<int>(n), c == std::string::npos ? 0 : problem_number(rest.substr(c + 1), problem));
  }
  System s = named_problem(problem);
  s.G = u.G;
  return s;
}

void to_json(nlohmann::json& j, const IntegrationResult& r) {
  j = {{"source", r.source},
       {"bodies", r.bodies},
       {"G", r.G},
       {"integrator", r.integrator},
       {"parameter", r.parameter ? nlohmann::json(*r.parameter) : nlohmann::json("policy")},
       {"t_end", r.t_end},
       {"energy_initial", r.energy_initial},
       {"energy_final", r.energy_final},
       {"relative_energy_error", r.relative_energy_error},
       {"max_relative_energy_error", r.max_relative_energy_error},
       {"angular_momentum_initial", r.angular_momentum_initial},
       {"angular_momentum_change", r.angular_momentum_change},
       {"momentum_change", r.momentum_change},
       {"steps", r.stats.steps},
       {"force_evaluations", r.stats.force_evaluations},
       {"rejected_steps", r.stats.rejected_steps},
       {"wall_s", r.wall_s},
       {"ns_per_step", r.ns_per_step},
       {"force_evaluations_per_s", r.force_evaluations_per_s}};
  if (r.policy_driven) {
    nlohmann::json c = nlohmann::json::array();
    for (const auto& p : r.policy_choices) c.push_back({{"eta", p.eta}, {"decisions", p.decisions}});
    j["policy_choices"] = c;
  }
}

IntegrationResult run_integration(const IntegrateOptions& o) {
  o.validate();
  IntegrationResult res;
  System s;
  res.source = o.input;
  Units u = units_named(o.units);
  if (!o.problem.empty()) {
    res.source = o.problem;
    s = problem_system(o.problem, u);
  } else {
    s = read_initial_conditions(o.input, u);
  }
  if (s.n() > kMaxBodies)
    throw InputError(res.source, "", std::to_string(s.n()) + " bodies; at most " + std::to_string(kMaxBodies) + " (direct summation)");
  const double dt_out = o.output_every > 0 ? o.output_every : o.t_end / 200;
  const double samples = std::ceil(o.t_end / dt_out) + 1;
  if (samples * static_cast<double>(s.n()) > kMaxSampleValues)
    throw UsageError("--output-every: " + short_number(samples) + " samples of " + std::to_string(s.n()) + " bodies; at most " + short_number(kMaxSampleValues) +
                     " sample-bodies in memory");
  std::unique_ptr<Integrator> integ;
  std::optional<Policy> policy;
  std::map<double, int64_t> chosen;
  if (!o.policy.empty()) {
    policy = load_policy(o.policy);
    if (s.n() != 3) throw UsageError("--policy: the policies read the state of three bodies, the system has " + std::to_string(s.n()));
    integ = make_integrator(o.integrator.empty() ? policy->env.integrator : o.integrator);
  } else {
    integ = make_integrator(o.integrator, o.parameter.value_or(0));
  }
  integ->max_steps = o.max_steps;
  const double e0 = energy(s);
  const Vec3 l0 = angular_momentum(s), p0 = momentum(s);
  auto sample = [&] {
    res.t.push_back(s.t);
    res.x.push_back(s.x);
    res.v.push_back(s.v);
    res.energy_error.push_back(std::fabs((energy(s) - e0) / e0));
  };
  sample();
  const EnvOptions env = policy ? policy->env : EnvOptions{};
  const auto t0 = std::chrono::steady_clock::now();
  double next_decision = 0;
  double max_err = 0;
  const double t_start = s.t;
  for (int k = 1; s.t < t_start + o.t_end;) {
    check_stop();
    const double t_next = std::min(t_start + o.t_end, t_start + k * dt_out);
    if (policy) {
      while (s.t < t_next) {
        if (s.t >= next_decision) {
          // The state the policy was trained on: positions, velocities and the error so far.
          const double eta = env.actions[policy->choose(observe(s, std::fabs((energy(s) - e0) / e0)))];
          integ->set_parameter(env.parameter_for(eta));
          ++chosen[eta];
          next_decision = s.t + o.decision_interval;
          if (!(next_decision > s.t))
            throw Error("--decision-interval " + short_number(o.decision_interval) + " is below the time resolution at t = " + short_number(s.t));
        }
        integ->integrate_to(s, std::min(t_next, next_decision));
      }
    } else {
      integ->integrate_to(s, t_next);
    }
    sample();
    max_err = std::max(max_err, res.energy_error.back());
    if (s.t >= t_next) ++k;
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const Vec3 l1 = angular_momentum(s), p1 = momentum(s);
  double dl = 0, dp = 0;
  for (int k = 0; k < 3; ++k) {
    dl = std::max(dl, std::fabs(l1[k] - l0[k]));
    dp = std::max(dp, std::fabs(p1[k] - p0[k]));
  }
  res.bodies = s.n();
  res.G = s.G;
  res.integrator = integ->name();
  if (!policy) res.parameter = integ->parameter();
  res.t_end = s.t;
  res.energy_initial = e0;
  res.energy_final = energy(s);
  res.relative_energy_error = res.energy_error.back();
  res.max_relative_energy_error = max_err;
  res.angular_momentum_initial = l0;
  res.angular_momentum_change = dl;
  res.momentum_change = dp;
  res.stats = integ->stats;
  res.wall_s = wall;
  res.ns_per_step = integ->stats.steps ? wall * 1e9 / integ->stats.steps : 0.0;
  res.force_evaluations_per_s = wall > 0 ? integ->stats.force_evaluations / wall : 0.0;
  res.policy_driven = policy.has_value();
  for (auto [eta, n] : chosen) res.policy_choices.push_back({eta, n});
  return res;
}

}  // namespace paramkit::nbody
