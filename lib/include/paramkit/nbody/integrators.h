// Integrators on plain doubles: Hermite 4th order with the shared step eta * tau_coll (AMUSE's
// hermite, PEC), leapfrog kick-drift-kick with a fixed step, an IAS15-class 15th-order Gauss-Radau
// predictor-corrector with REBOUND's PRS23 step rule, and Dormand-Prince RK45 with error control.
// Each advances a System to an exact end time (the last step is shortened) and counts its work.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "paramkit/nbody/system.h"

namespace paramkit::nbody {

struct IntegratorStats {
  int64_t steps = 0, force_evaluations = 0, rejected_steps = 0;
};

class Integrator {
 public:
  virtual ~Integrator() = default;
  virtual std::string name() const = 0;
  // Hermite: eta; leapfrog: dt; ias15: epsilon; rk45: tolerance.
  virtual void set_parameter(double p) = 0;
  virtual double parameter() const = 0;
  // Advances s to exactly t_end (>= s.t). Error (exit 1) if the step size collapses.
  virtual void integrate_to(System& s, double t_end) = 0;
  // Forgets state carried between calls (cached forces, step predictions) after s was changed.
  virtual void reset() {}
  IntegratorStats stats;
  // > 0: Error once stats.force_evaluations exceeds this (a guard for callers such as the RL
  // environment, where a bad parameter on a close encounter could otherwise run for hours).
  int64_t max_force_evaluations = 0;
  // > 0: Error once stats.steps (accepted and rejected) exceeds this; integrate's --max-steps.
  int64_t max_steps = 0;
  // false: no stop check inside integrate_to (training finishes its episode, then checkpoints).
  bool stop_on_signal = true;

 protected:
  // After every step and force evaluation: Interrupted at SIGINT/SIGTERM (so one signal ends a run
  // within one force evaluation, however long the run), Error past the budgets above.
  void check_budget() const;
  void count_force_evaluation() {
    ++stats.force_evaluations;
    check_budget();
  }
};

// hermite, leapfrog, ias15, rk45; parameter <= 0 takes the default (0.03, 1e-3, 1e-9, 1e-10).
std::unique_ptr<Integrator> make_integrator(const std::string& name, double parameter = 0);
const std::vector<std::string>& integrator_names();
// IAS15 with (the default) or without compensated summation of the positions, velocities, time and
// the b coefficients; plain summation is there for the benchmark and the tests that compare the two.
std::unique_ptr<Integrator> make_ias15(double epsilon, bool compensated);

}  // namespace paramkit::nbody
