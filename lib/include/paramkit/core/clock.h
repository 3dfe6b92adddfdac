// Wall-clock timing for reports and benchmarks: monotonic seconds, and the best of repeated runs.
#pragma once
#include <algorithm>
#include <chrono>

#include "paramkit/core/signals.h"

namespace paramkit {

// Seconds on the monotonic clock (steady_clock; the same system-wide clock in every process of a machine).
inline double monotonic_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The shortest of `reps` timed runs of f() after one untimed warm-up run; check_stop() between runs.
template <class F>
double best_of(int reps, F&& f) {
  f();
  double best = 1e300;
  for (int i = 0; i < reps; ++i) {
    check_stop();
    const double t0 = monotonic_seconds();
    f();
    best = std::min(best, monotonic_seconds() - t0);
  }
  return best;
}

}  // namespace paramkit
