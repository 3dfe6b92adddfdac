// RL fine-tuning of a causal LM: ReMax, PPO, GRPO and RLOO. One iteration is a graph of model
// function calls (generate, inference, train_step on named models: actor, ref, critic, reward), run in
// order and each timed, so that a later execution planner (ReaLHF) can place and schedule the same
// calls. Resumable through the shared loop: policy, critic, optimizers, KL coefficient, RNG and data
// position are in the checkpoint; rollouts are seeded per iteration.
#pragma once
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "paramkit/core/resumable.h"
#include "paramkit/lm/generate.h"
#include "paramkit/lm/model.h"
#include "paramkit/rlhf/algorithms.h"
#include "paramkit/rlhf/data.h"
#include "paramkit/rlhf/reward.h"
#include "paramkit/text/tokenizer.h"

namespace paramkit::rlhf {

enum class Algo { remax, ppo, grpo, rloo };
Algo parse_algo(const std::string& name);  // UsageError naming --algo
const char* algo_name(Algo a);

struct RlOptions {
  Algo algo = Algo::remax;
  bool remax_token_level = false;  // the reference repository's per-token variant
  int64_t iterations = 100;
  int64_t batch_prompts = 8;       // prompts per iteration
  int64_t group_size = 4;          // GRPO/RLOO: samples per prompt
  lm::GenerateOptions gen;         // rollouts: max_new_tokens, temperature, top_k, top_p
  int64_t max_prompt_tokens = 256; // longer prompts keep their last tokens
  double lr = 1e-5, critic_lr = 1e-5, weight_decay = 0, grad_clip = 1.0;
  double kl_coef = 0;              // 0: no reference model
  double kl_target = 0;            // > 0: Ziegler's adaptive coefficient towards this KL per sequence
  double kl_horizon = 10000;
  KlEstimator kl_estimator = KlEstimator::k1;
  bool kl_in_reward = true;        // PPO: KL as a per-token reward penalty (true) or a loss term
  double gae_gamma = 1.0, gae_lambda = 0.95;
  double clip = 0.2, value_clip = 0.2, vf_coef = 0.5;
  int64_t epochs = 1, minibatches = 1;  // PPO/GRPO/RLOO updates per rollout batch
  bool whiten_advantages = true;   // PPO
  double reward_clip = 0;          // > 0: scores clipped to +-reward_clip (PPO)
  double remax_gamma = 0.99, remax_clip = 5;  // token-level ReMax
  int64_t eval_every = 0;          // evaluate greedy responses on the eval prompts every N iterations (0: start and end only)
  CheckpointOptions checkpoint;    // units: iterations
  std::filesystem::path log_jsonl; // one record per iteration
  // UsageError naming the flag for values no flag check can catch (combinations).
  void validate() const;
};

enum class CallKind { generate, inference, train_step };
const char* call_kind_name(CallKind k);
// One model function call of an iteration: what it runs on which model, reading and producing named
// data ("prompts", "samples", "scores", ...).
struct ModelCall {
  std::string name, model;
  CallKind kind;
  std::vector<std::string> inputs, outputs;
};
// The calls of one iteration for these options, in an order where every input is produced before it
// is read (checked: Error otherwise).
std::vector<ModelCall> iteration_graph(const RlOptions& o);
nlohmann::json graph_to_json(const std::vector<ModelCall>& calls);

struct RlModels {
  lm::CausalLM actor{nullptr};
  lm::CausalLM ref{nullptr};     // needed when kl_coef > 0
  lm::CausalLM critic{nullptr};  // PPO: score head
};

struct RlResult {
  int64_t iterations = 0;
  bool finished = false, resumed = false;
  std::vector<nlohmann::json> history;  // the per-iteration records of this run
  double eval_initial = NAN, eval_final = NAN;                  // mean reward of greedy responses to the eval prompts
  double eval_sampled_initial = NAN, eval_sampled_final = NAN;  // ... of responses sampled as in the rollouts
};

// Trains models.actor (and critic). eval_prompts may be empty; they are scored with eval_reward (null:
// the training reward), e.g. a rule checking answers while training against a reward model.
// on_record gets each iteration's record.
RlResult train_rl(RlModels& models, const text::Tokenizer& tok, const std::vector<PromptExample>& prompts,
                  const std::vector<PromptExample>& eval_prompts, Reward& reward, const RlOptions& o, uint64_t seed,
                  Reward* eval_reward = nullptr, const std::function<void(const nlohmann::json&)>& on_record = {});

// Log-probabilities (and, when asked, entropies) of a rollout's response tokens under `m` [B, N] at
// the sampling temperature (logits / temperature, so the trained policy is the one that sampled), from
// the hidden states of the positions before each response token only.
struct TokenStats {
  torch::Tensor logp, entropy;
};
TokenStats response_stats(lm::CausalLMImpl& m, const lm::GenerateResult& g, bool entropy, double temperature = 1.0);

// A batch of responses: the generation, the texts (up to EOS, special tokens skipped), the response mask
// [B, N] float32 and whether each produced EOS [B] bool.
struct Rollout {
  lm::GenerateResult gen;
  std::vector<std::string> texts;
  torch::Tensor mask, ended;
};
Rollout decode_rollout(const lm::GenerateResult& g, const text::Tokenizer& tok, const std::vector<int64_t>& eos);
// Generation options with the EOS ids (the options', else the tokenizer's, else the config's) and the
// tokenizer's pad id.
lm::GenerateOptions with_eos(lm::GenerateOptions o, const text::Tokenizer& tok, const lm::LmConfig& c);
// One finite score per response (Error naming the reward otherwise).
std::vector<double> score_responses(Reward& reward, const std::vector<const PromptExample*>& prompts, const std::vector<std::string>& texts);

// Prompt ids (with the tokenizer's special prefix), keeping the last max_tokens.
std::vector<int64_t> prompt_ids(const text::Tokenizer& tok, const std::string& prompt, int64_t max_tokens);
// Responses (text up to EOS, special tokens skipped) of each prompt, in batches.
std::vector<std::string> generate_texts(lm::CausalLMImpl& model, const text::Tokenizer& tok, const std::vector<std::string>& prompts,
                                        const lm::GenerateOptions& o, int64_t batch_size, int64_t max_prompt_tokens);
// Mean reward of responses generated with `o` (greedy or sampled).
double evaluate_policy(lm::CausalLMImpl& model, const text::Tokenizer& tok, const std::vector<PromptExample>& prompts, Reward& reward,
                       const lm::GenerateOptions& o, int64_t batch_size, int64_t max_prompt_tokens);

}  // namespace paramkit::rlhf
