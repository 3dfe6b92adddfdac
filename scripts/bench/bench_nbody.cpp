// Benchmark helper for scripts/bench/nbody.sh: speed of each integrator (steps and force evaluations
// per second, ns per step, energy error) on the Pythagorean problem and a 100-body Plummer cluster, and
// the cost of one policy decision against the integration of the RL step it controls.
//   bench-nbody [POLICY.safetensors]   prints JSON
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "paramkit/nbody/dqn.h"
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
