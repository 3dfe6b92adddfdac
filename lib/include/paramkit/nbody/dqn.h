// DQN for the time-step environment, as the paper's reference trains it: Q network 13 -> 200 -> (one
// 200 x 200 layer applied `repeats` times) -> 10, Huber loss, AdamW, replay memory, soft target updates,
// gradient clipping by value, epsilon-greedy exploration decaying across episodes (or, as the reference
// does, restarting every episode). Training is checkpointed per episode and resumes bit-exactly.
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "paramkit/core/resumable.h"
#include "paramkit/core/rng.h"
#include "paramkit/io/tensor_store.h"
#include "paramkit/nbody/env.h"

namespace paramkit::nbody {

struct DqnOptions {
  int hidden = 200, repeats = 2;
  double lr = 1e-3, gamma = 0.99, tau = 0.005, clip = 100, weight_decay = 0.01;
  int replay = 10000, batch = 128;
  double eps_start = 0.9, eps_end = 0.05, eps_decay = 1000;  // decay in agent steps
  bool eps_reset_each_episode = false;
  bool double_dqn = false;  // target r + gamma Q_target(s', argmax_a Q_policy(s', a)) (not in the paper)
  // UsageError for sizes, rates and decays out of range.
  void validate() const;
};

struct QNetImpl : torch::nn::Module {
  QNetImpl(int state, int hidden, int repeats, int actions);
  torch::Tensor forward(torch::Tensor x);
  torch::nn::Linear in{nullptr}, mid{nullptr}, out{nullptr};
  int repeats;
};
TORCH_MODULE(QNet);

struct Transition {
  std::vector<double> s, s2;
  int a = 0;
  double r = 0;
  bool done = false;
};

// Huber loss of Q(s, a) against r + gamma max_a' Q_target(s') (no bootstrap after a terminal step).
torch::Tensor dqn_loss(QNet& policy, QNet& target, const std::vector<Transition>& batch, double gamma, bool double_dqn = false);

class DqnAgent {
 public:
  DqnAgent(int state, int actions, const DqnOptions& o, uint64_t seed);
  int greedy(const std::vector<double>& s);
  int act(const std::vector<double>& s, double eps);
  double epsilon(int64_t steps) const;
  void remember(const Transition& t);
  double learn();  // one optimisation step (0 until the memory holds a batch)
  void save(const std::filesystem::path& path, const nlohmann::json& extra);
  nlohmann::json load(const std::filesystem::path& path);
  QNet policy{nullptr}, target{nullptr};
  DqnOptions opt;
  int actions;

 private:
  std::unique_ptr<torch::optim::AdamW> adam_;
  Rng rng_;
  std::vector<Transition> memory_;
  size_t next_ = 0;
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
  // UsageError for unknown integrators, episodes < 1, bad DQN options or checkpoint flags.
  void validate() const;
};

// A trained policy: the network and the environment settings it was trained with. Decisions run the
// network in plain C++ (a LibTorch call per layer costs more than the arithmetic of this small net).
struct Policy {
  QNet net{nullptr};
  EnvOptions env;
  int choose(const std::vector<double>& state) const;
  std::vector<float> q_values(const std::vector<double>& state) const;  // the plain forward pass
  void prepare();  // copies the weights for q_values (load_policy calls it)

 private:
  struct Dense {
    int in = 0, out = 0;
    std::vector<float> w, b;  // w row-major [in][out] (transposed)
  };
  Dense in_, mid_, out_;
  int repeats_ = 0;
};
Policy load_policy(const std::filesystem::path& path);
// Writes a policy as safetensors: the network's weights and, in `metadata` (with the caller's entries,
// e.g. provenance), "nbody_policy": the environment settings and network shape load_policy reads.
void save_policy(const std::filesystem::path& path, const Policy& policy, Metadata metadata);

struct TrainResult {
  int64_t episodes_done = 0;  // counting those before a resume
  bool finished = false;      // false when --stop-after ended the run early
  int64_t agent_steps = 0;
  double mean_return_last_10 = 0;
  Policy policy;  // the trained network and its environment (when finished)
};
// The summary (everything but the policy).
void to_json(nlohmann::json& j, const TrainResult& r);

// Trains, resuming from config.checkpoint when asked; Interrupted (exit 130) at SIGINT/SIGTERM, after
// checkpointing at the episode boundary.
TrainResult train_dqn(const TrainConfig& c);

}  // namespace paramkit::nbody
