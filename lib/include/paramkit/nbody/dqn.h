// DQN for the time-step environment, as the paper's reference trains it: Q network 13 -> 200 -> (one
// 200 x 200 layer applied `repeats` times) -> 10, Huber loss, AdamW, replay memory, soft target updates,
// gradient clipping by value, epsilon-greedy exploration decaying across episodes (or, as the reference
// does, restarting every episode). Training is checkpointed per episode and resumes bit-exactly.
// LibTorch: only the training helper of nbody-rl links this (train.h and policy.h are LibTorch-free).
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "paramkit/core/rng.h"
#include "paramkit/nbody/env.h"
#include "paramkit/nbody/policy.h"
#include "paramkit/nbody/train.h"

namespace paramkit::nbody {

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

// The network's weights as a plain-C++ policy for the environment `env`.
Policy to_policy(const QNet& net, const EnvOptions& env);

}  // namespace paramkit::nbody
