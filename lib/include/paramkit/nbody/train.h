// What training the time-step agent takes and gives, without LibTorch: the DQN's options, the
// training configuration (validated before any work) and the result. train_dqn itself (dqn.h) needs
// LibTorch; nbody-rl runs it in its training helper.
#pragma once
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "paramkit/core/resumable.h"
#include "paramkit/nbody/env.h"
#include "paramkit/nbody/policy.h"

namespace paramkit::nbody {

struct DqnOptions {
  int hidden = 200, repeats = 2;
  double lr = 1e-3, gamma = 0.99, tau = 0.005, clip = 100, weight_decay = 0.01;
  int replay = 10000, batch = 128;
  double eps_start = 0.9, eps_end = 0.05, eps_decay = 1000;  // decay in agent steps
  bool eps_reset_each_episode = false;
  bool double_dqn = false;  // target r + gamma Q_target(s', argmax_a Q_policy(s', a)) (not in the paper)
  // UsageError, naming the flag, for sizes, rates and decays that are not finite or out of range.
  void validate() const;
};

struct TrainConfig {
  EnvOptions env;
  DqnOptions dqn;
  int episodes = 200;
  uint64_t seed = 0;  // network init, exploration and the training seeds (seed*100000 + episode)
  // Checkpoints at episode boundaries: every `every` episodes (nbody-rl presets 10), at the end, at
  // stop_after and at SIGINT/SIGTERM.
  CheckpointOptions checkpoint;
  std::filesystem::path log;  // JSON Lines per episode
  // UsageError for unknown integrators, episodes, steps or times out of range, bad DQN options or
  // checkpoint flags.
  void validate() const;
};

struct TrainResult {
  int64_t episodes_done = 0;  // counting those before a resume
  bool finished = false;      // false when --stop-after ended the run early
  int64_t agent_steps = 0;
  double mean_return_last_10 = 0;
  Policy policy;  // the trained network and its environment (when finished; empty otherwise)
};
// The summary (everything but the policy).
void to_json(nlohmann::json& j, const TrainResult& r);

// Trains, resuming from config.checkpoint when asked; Interrupted (exit 130) at SIGINT/SIGTERM, after
// checkpointing at the episode boundary. Defined with the agent (dqn.cpp, LibTorch).
TrainResult train_dqn(const TrainConfig& c);

}  // namespace paramkit::nbody
