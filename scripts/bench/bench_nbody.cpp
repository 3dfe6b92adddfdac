// Benchmark helper for scripts/bench/nbody.sh: speed of each integrator (steps and force evaluations
// per second, ns per step, energy error) on the Pythagorean problem and a 100-body Plummer cluster, and
// the cost of one policy decision against the integration of the RL step it controls.
//   bench-nbody [POLICY.safetensors]   prints JSON
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "paramkit/nbody/policy.h"
#include "paramkit/nbody/integrators.h"
#include "paramkit/nbody/system.h"

using namespace paramkit::nbody;

namespace {
double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
}  // namespace

int main(int argc, char** argv) {
  struct Case {
    std::string problem, integrator;
    double param, t_end;
  };
  std::vector<Case> cases = {{"pythagorean", "ias15", 1e-9, 70},   {"pythagorean", "hermite", 0.01, 70},
                             {"pythagorean", "rk45", 1e-10, 70},    {"pythagorean", "leapfrog", 1e-4, 10},
                             {"plummer100", "ias15", 1e-9, 0.25},   {"plummer100", "hermite", 0.01, 0.25},
                             {"plummer100", "rk45", 1e-10, 0.25},   {"plummer100", "leapfrog", 1e-4, 0.25}};
  std::printf("{\"integrators\": [\n");
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    System s = c.problem == "pythagorean" ? named_problem("pythagorean") : plummer_sphere(100, 1);
    const double e0 = energy(s);
    auto integ = make_integrator(c.integrator, c.param);
    const double t0 = now();
    integ->integrate_to(s, c.t_end);
    const double wall = now() - t0;
    std::printf("  {\"problem\": \"%s\", \"integrator\": \"%s\", \"parameter\": %g, \"t_end\": %g, \"steps\": %lld, \"force_evaluations\": %lld, "
                "\"wall_s\": %.6f, \"steps_per_s\": %.1f, \"force_evaluations_per_s\": %.1f, \"ns_per_step\": %.1f, \"relative_energy_error\": %.3e}%s\n",
                c.problem.c_str(), c.integrator.c_str(), c.param, c.t_end, static_cast<long long>(integ->stats.steps),
                static_cast<long long>(integ->stats.force_evaluations), wall, integ->stats.steps / wall, integ->stats.force_evaluations / wall,
                wall * 1e9 / std::max<int64_t>(1, integ->stats.steps), std::fabs((energy(s) - e0) / e0), i + 1 < cases.size() ? "," : "");
  }
  std::printf("]");
  // IAS15 with compensated summation (the default) against plain summation over a range of epsilon:
  // energy error, steps and the cost of a step, so the two can be compared at equal energy error.
  //  - The Pythagorean problem to t = 70 (REBOUND 5.0, epsilon 1e-9: 5380 steps and 3.1e-11,
  //    2.2e-9 with its compensation switched off). It is chaotic: one run's final error is one draw
  //    of the round-off, so each point is the median over 9 copies shifted by (k, k, 0) x 1e-3 (the
  //    same physics, other round-off).
  //  - A Kepler orbit (e = 0.5) for 10^4 periods: regular, where round-off accumulates step by step.
  std::printf(",\n\"ias15_summation\": [\n");
  bool first = true;
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  struct Problem {
    std::string name;
    double t_end;
    int copies;
    std::vector<double> eps;
  };
  const std::vector<Problem> problems = {{"pythagorean", 70, 9, {1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-11, 1e-12}},
                                         {"kepler", 2 * M_PI * 1e4, 1, {1e-7, 1e-8, 1e-9, 1e-10, 1e-11}}};
  for (const Problem& pr : problems)
    for (bool compensated : {true, false})
      for (double eps : pr.eps) {
        std::vector<double> err, ns, wall, steps, evals;
        for (int k = 0; k < pr.copies; ++k) {
          System s = named_problem(pr.name, 0.5);
          for (auto& x : s.x) x[0] += 1e-3 * k, x[1] += 1e-3 * k;
          const double e0 = energy(s);
          auto integ = make_ias15(eps, compensated);
          const double t0 = now();
          integ->integrate_to(s, pr.t_end);
          const double w = now() - t0;
          err.push_back(std::fabs((energy(s) - e0) / e0));
          wall.push_back(w);
          ns.push_back(w * 1e9 / std::max<int64_t>(1, integ->stats.steps));
          steps.push_back(static_cast<double>(integ->stats.steps));
          evals.push_back(static_cast<double>(integ->stats.force_evaluations));
        }
        std::printf("%s  {\"problem\": \"%s\", \"summation\": \"%s\", \"epsilon\": %g, \"copies\": %d, \"steps\": %.0f, "
                    "\"force_evaluations\": %.0f, \"wall_s\": %.6f, \"ns_per_step\": %.1f, \"relative_energy_error\": %.3e, "
                    "\"relative_energy_error_max\": %.3e}",
                    first ? "" : ",\n", pr.name.c_str(), compensated ? "compensated" : "plain", eps, pr.copies, median(steps), median(evals),
                    median(wall), median(ns), median(err), *std::max_element(err.begin(), err.end()));
        first = false;
      }
  std::printf("\n]");
  if (argc > 1) {
    // One decision: the state tensor, the forward pass and the argmax, against one RL step of the
    // integration it controls (the policy's own choices on held-out seeds).
    Policy p = load_policy(argv[1]);
    ThreeBodyEnv env(p.env);
    std::vector<double> st = env.reset(1000000);
    const int reps = 2000;
    double t0 = now();
    int sink = 0;
    for (int k = 0; k < reps; ++k) sink += p.choose(st);
    const double decision = (now() - t0) / reps;
    double integration = 0;
    int steps = 0;
    for (uint64_t seed = 1000000; seed < 1000005; ++seed) {
      st = env.reset(seed);
      StepResult r;
      do {
        const int a = p.choose(st);
        t0 = now();
        r = env.step(a);
        integration += now() - t0;
        ++steps;
        st = r.state;
      } while (!r.done);
    }
    std::printf(",\n\"policy\": {\"decision_s\": %.3e, \"integration_per_rl_step_s\": %.3e, \"decision_over_integration\": %.4f, \"checksum\": %d}",
                decision, integration / steps, decision / (integration / steps), sink % 7);
  }
  std::printf("}\n");
  return 0;
}
