// RL fine-tuning executed under a ReaLHF execution plan (issue 20): each model function call of the
// iteration (ReMax: actor_gen, actor_greedy_gen, reward_inf, ref_inf, actor_train; PPO: actor_gen,
// reward_inf, ref_inf, critic_inf, actor_train, critic_train; GRPO/RLOO: PPO's without the critic) runs on its own mesh of this job's processes
// with its own (dp, tp, pp); a trained model's parameters are reallocated from its training layout to
// its other calls' layouts every iteration (rlhf/realloc.h), and every call's outputs go point to point
// to the processes of the calls that read them, so calls on disjoint meshes run at the same time. The
// training steps equal the single-process ones (rlhf/rl.h) within floating-point reordering; so do the
// rollouts when generation runs on one replica. (The old log-probabilities of PPO, GRPO and RLOO are
// computed on actor_gen's placement right after generating.) Checkpoints (rank 0) hold the full trained models and their AdamW
// moments, so a run resumes under the same or another plan.
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "paramkit/rlhf/dist.h"
#include "paramkit/rlhf/parallel.h"
#include "paramkit/rlhf/rl.h"

namespace paramkit::rlhf {

// The placement of each call by name.
struct ExecutionPlan {
  std::map<std::string, parallel::Placement> calls;
};
// The calls a plan places for ReMax, PPO, GRPO or RLOO, in the iteration's order (ref_inf only with a
// KL term; GRPO and RLOO: actor_gen, reward_inf, ref_inf, actor_train).
std::vector<std::string> plan_calls(Algo algo, bool with_ref);
// Reads {"calls": [{"call", "mesh": {"first", "size"}, "dp", "tp", "pp", "micro_batches"?}, ...]} as
// `rlhf-train plan` writes it (also a whole `plan` report: the plan under "plan"). InputError naming the
// file and field for a malformed entry or an unknown call.
ExecutionPlan read_execution_plan(const nlohmann::json& j, const std::string& source);
// UsageError naming the file and call: a missing call, a mesh outside the world, degrees whose product is
// not the mesh size, tp not dividing the heads or MLP width, pp above the layers, dp above the batch.
// PPO, GRPO, RLOO: every minibatch (rows / minibatches) must cover the training calls' dp.
void validate_execution_plan(const ExecutionPlan& p, int64_t world, const RlOptions& o, const lm::LmConfig& actor,
                             const lm::LmConfig* reward_model, const std::string& source);

struct PlannedSetup {
  lm::LmConfig actor_config;
  std::map<std::string, torch::Tensor> actor_full;  // rank 0: the starting policy
  std::map<std::string, torch::Tensor> ref_full;    // rank 0, with a KL term
  std::optional<lm::LmConfig> reward_config;         // a reward model the plan splits
  std::map<std::string, torch::Tensor> reward_full;  // rank 0
  std::shared_ptr<const text::Tokenizer> reward_tokenizer;
  Reward* reward = nullptr;  // otherwise: a rule or command run by the reward call's first process
  std::map<std::string, torch::Tensor> critic_full;  // PPO, rank 0: the value model (score head), the actor's architecture
};

struct PlannedResult {
  int64_t iterations = 0;
  bool finished = false, resumed = false;
  std::vector<nlohmann::json> history;  // per iteration (every process)
  // Per call and iteration: [start, end] seconds after the iteration's start (a barrier), over the call's
  // processes (from the first one starting, reallocation included, to the last one ending).
  std::map<std::string, std::vector<std::pair<double, double>>> spans;
  std::map<std::string, torch::Tensor> actor_final;  // rank 0
};

// Trains from setup.actor_full (and critic_full) under `plan` (every process calls it with the same
// arguments; the full tensors only matter on rank 0). ReMax (sequence level), PPO, GRPO or RLOO, with a
// fixed KL coefficient.
PlannedResult train_planned(dist::Group& g, const PlannedSetup& setup, const text::Tokenizer& tok,
                                  const std::vector<PromptExample>& prompts, const RlOptions& o, const ExecutionPlan& plan,
                                  uint64_t seed, const std::function<void(const nlohmann::json&)>& on_record = {});

}  // namespace paramkit::rlhf
