// The estimators and losses of RLHF on token tensors, free of any model: KL estimators, masked
// statistics, GAE, PPO's clipped policy and value losses, Ziegler's adaptive KL controller, ReMax
// (Algorithm 1 of the paper, and the reference repository's token-level variant), GRPO's group-normalised
// and RLOO's leave-one-out advantages.
//
// Shapes: B sequences, T response positions. `mask` [B,T] is 1 at response tokens (up to and including
// EOS) and 0 after; logp/ref_logp/values [B,T] belong to the response tokens; rewards and scores [B].
#pragma once
#include <torch/torch.h>

#include <string>

namespace paramkit::rlhf {

// ---- KL to the reference model, per token, from samples of the policy --------------------------
// With log r = logp - ref_logp (tokens sampled from the policy): k1 = log r, k2 = (log r)^2 / 2,
// k3 = exp(-log r) - 1 + log r (Schulman's estimators: k1 and k3 unbiased for KL(pi || ref), k3 >= 0).
enum class KlEstimator { k1, k2, k3 };
KlEstimator parse_kl_estimator(const std::string& name, const std::string& flag);
const char* kl_estimator_name(KlEstimator k);
torch::Tensor kl_estimate(const torch::Tensor& logp, const torch::Tensor& ref_logp, KlEstimator k);

// ---- masked statistics --------------------------------------------------------------------------
torch::Tensor masked_sum(const torch::Tensor& x, const torch::Tensor& mask);   // over all elements
torch::Tensor masked_mean(const torch::Tensor& x, const torch::Tensor& mask);  // over all elements
// (x - mean) / sqrt(var + 1e-8) over the masked elements (unbiased variance); shift_mean false adds
// the mean back (OpenRLHF/TRL's whiten for rewards). Masked-out entries are 0.
torch::Tensor masked_whiten(const torch::Tensor& x, const torch::Tensor& mask, bool shift_mean = true);

// ---- GAE --------------------------------------------------------------------------------------------
// Generalised advantage estimation on each row's masked positions (a contiguous prefix of the row):
// delta_t = r_t + gamma V_{t+1} - V_t, A_t = delta_t + gamma lambda A_{t+1}; after the last response
// token V = `bootstrap` ([B]: 0 for a finished sequence, V of the last state for a truncated one).
// Returns {advantages, returns = advantages + values}, 0 outside the mask. No gradient flows.
struct Gae {
  torch::Tensor advantages, returns;
};
Gae gae(const torch::Tensor& rewards, const torch::Tensor& values, const torch::Tensor& mask, double gamma, double lambda,
        const torch::Tensor& bootstrap = {});

// ---- PPO ----------------------------------------------------------------------------------------------
struct PolicyLoss {
  torch::Tensor loss;     // scalar, differentiable through logp
  double clip_frac = 0;   // fraction of masked tokens where the clipped term was taken
  double approx_kl = 0;   // mean of (ratio - 1) - log ratio (k3 of old vs new)
};
// -mean over masked tokens of min(ratio A, clip(ratio, 1-eps, 1+eps) A), ratio = exp(logp - old_logp).
PolicyLoss ppo_policy_loss(const torch::Tensor& logp, const torch::Tensor& old_logp, const torch::Tensor& advantages,
                           const torch::Tensor& mask, double clip);
// 0.5 mean over masked tokens of max((V - R)^2, (clip(V, V_old -/+ eps) - R)^2); clip <= 0: unclipped.
torch::Tensor value_loss(const torch::Tensor& values, const torch::Tensor& old_values, const torch::Tensor& returns,
                         const torch::Tensor& mask, double clip);

// Per-token PPO rewards: -kl_coef * kl_t at every response token, plus the score (clipped to
// +-reward_clip when reward_clip > 0) at the last response token of the sequences that `ended` (EOS
// produced); a truncated sequence gets no score there (its GAE bootstraps from the value instead).
torch::Tensor ppo_token_rewards(const torch::Tensor& scores, const torch::Tensor& kl, const torch::Tensor& mask,
                                double kl_coef, double reward_clip, const torch::Tensor& ended);

// Ziegler et al.'s adaptive KL coefficient: err = clip(KL / target - 1, -0.2, 0.2),
// coef *= 1 + err * n_steps / horizon. target <= 0: fixed coefficient.
struct KlController {
  double coef = 0.05, target = 0, horizon = 10000;
  void update(double kl, int64_t n_steps);
};

// ---- ReMax ----------------------------------------------------------------------------------------------
// Algorithm 1: loss = -mean_b( sum_t logp_bt * (r_b - r_greedy_b) ) (sum over the response tokens).
// The greedy baseline depends only on the prompt: the estimator is unbiased.
torch::Tensor remax_loss(const torch::Tensor& logp, const torch::Tensor& mask, const torch::Tensor& reward,
                         const torch::Tensor& greedy_reward);
// The reference repository's variant (ReMax on DeepSpeed-Chat): per-token return
// G_i = -kl_coef (logp_i - ref_logp_i) + gamma^(T - i + 1) clip(r - r_greedy, -clip, clip) for i = 1..T
// (T the row's response length, KL not accumulated); loss = -token-mean(logp * G). Returns {loss, G}.
struct TokenRemax {
  torch::Tensor loss, returns;
};
TokenRemax remax_token_loss(const torch::Tensor& logp, const torch::Tensor& ref_logp, const torch::Tensor& mask,
                            const torch::Tensor& reward, const torch::Tensor& greedy_reward, double kl_coef, double gamma,
                            double clip);

// ---- group baselines (sequences of one prompt are consecutive, group_size each) ------------------
// GRPO: (r - mean_group) / (std_group + eps) (std unbiased; eps 1e-6); group_size >= 2.
torch::Tensor grpo_advantages(const torch::Tensor& rewards, int64_t group_size);
// RLOO: r_i - mean of the group's other rewards; group_size >= 2.
torch::Tensor rloo_advantages(const torch::Tensor& rewards, int64_t group_size);
// REINFORCE-style loss with a per-sequence advantage: -mean_b( A_b * sum_t logp_bt ) / 1 (sequence
// level) — the loss ReMax, GRPO and RLOO share once their advantage is formed.
torch::Tensor sequence_pg_loss(const torch::Tensor& logp, const torch::Tensor& mask, const torch::Tensor& advantages);

}  // namespace paramkit::rlhf
