// The training configuration's checks and the result's JSON (no LibTorch: nbody-rl validates a
// training run before it starts its training helper).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "paramkit/core/error.h"
#include "paramkit/nbody/integrators.h"
#include "paramkit/nbody/train.h"

namespace paramkit::nbody {

namespace {
// A finite number in [lo, hi] (open at lo when lo_open), else UsageError naming the flag.
void in_range(double v, double lo, double hi, const char* flag, bool lo_open = false) {
  if (!std::isfinite(v) || v < lo || v > hi || (lo_open && v == lo))
    throw UsageError(std::string(flag) + ": must be in " + (lo_open ? "(" : "[") + short_number(lo) + ", " + short_number(hi) + "], got " + short_number(v));
}
}  // namespace

void DqnOptions::validate() const {
  in_range(hidden, 1, 4096, "--hidden");
  in_range(repeats, 0, 64, "--repeats");
  in_range(lr, 0, 1, "--lr", true);
  in_range(gamma, 0, 1, "--gamma");
  in_range(tau, 0, 1, "--tau");
  in_range(clip, 0, 1e6, "clip", true);
  in_range(weight_decay, 0, 1, "weight decay");
  in_range(replay, 1, 10000000, "--replay");
  in_range(batch, 1, 100000, "--batch");
  in_range(eps_start, 0, 1, "--eps-start");
  in_range(eps_end, 0, 1, "--eps-end");
  in_range(eps_decay, 0, 1e15, "--eps-decay", true);
}

void TrainConfig::validate() const {
  make_integrator(env.integrator);  // UsageError for unknown names, before any work
  in_range(episodes, 1, 1e9, "--episodes");
  in_range(env.steps, 1, 1000000, "--steps");
  in_range(env.step_time, 0, 1e6, "--step-time", true);
  in_range(env.cost_weight, 0, 1e6, "--cost-weight");
  const auto& rewards = reward_names();
  if (std::find(rewards.begin(), rewards.end(), env.reward) == rewards.end())
    throw UsageError("--reward: one of reward5, error-cost, error-cost-terminal, got '" + env.reward + "'");
  in_range(env.reward_clip, 0, 1e300, "--reward-clip");
  dqn.validate();
  checkpoint.validate();
}

void to_json(nlohmann::json& j, const TrainResult& r) {
  j = {{"episodes_done", r.episodes_done},
       {"finished", r.finished},
       {"agent_steps", r.agent_steps},
       {"mean_return_last_10", r.mean_return_last_10}};
}

}  // namespace paramkit::nbody
