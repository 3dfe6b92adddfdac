#include "paramkit/rlhf/algorithms.h"

#include <algorithm>
#include <cmath>

#include "paramkit/core/error.h"

namespace paramkit::rlhf {

KlEstimator parse_kl_estimator(const std::string& name, const std::string& flag) {
  if (name == "k1") return KlEstimator::k1;
  if (name == "k2") return KlEstimator::k2;
  if (name == "k3") return KlEstimator::k3;
  throw UsageError(flag + ": expected k1, k2 or k3, got '" + name + "'");
}

const char* kl_estimator_name(KlEstimator k) { return k == KlEstimator::k1 ? "k1" : k == KlEstimator::k2 ? "k2" : "k3"; }

torch::Tensor kl_estimate(const torch::Tensor& logp, const torch::Tensor& ref_logp, KlEstimator k) {
  const torch::Tensor log_r = logp - ref_logp;
  switch (k) {
    case KlEstimator::k1: return log_r;
    case KlEstimator::k2: return 0.5 * log_r * log_r;
    case KlEstimator::k3: break;
  }
  // exp(-log r) - 1 + log r, with the exponent clamped so a far-off token cannot give inf.
  return torch::exp(-log_r.clamp(-20, 20)) - 1 + log_r;
}

torch::Tensor masked_sum(const torch::Tensor& x, const torch::Tensor& mask) { return (x * mask).sum(); }

torch::Tensor masked_mean(const torch::Tensor& x, const torch::Tensor& mask) {
  return (x * mask).sum() / mask.sum().clamp_min(1);
}

torch::Tensor masked_whiten(const torch::Tensor& x, const torch::Tensor& mask, bool shift_mean) {
  const torch::Tensor mean = masked_mean(x, mask);
  const torch::Tensor n = mask.sum();
  const torch::Tensor centred = (x - mean) * mask;
  const torch::Tensor var = (centred * centred).sum() / (n - 1).clamp_min(1);
  torch::Tensor w = centred * torch::rsqrt(var + 1e-8);
  if (!shift_mean) w = w + mean;
  return w * mask;
}

Gae gae(const torch::Tensor& rewards, const torch::Tensor& values, const torch::Tensor& mask, double gamma, double lambda,
        const torch::Tensor& bootstrap) {
  torch::NoGradGuard no_grad;
  const int64_t T = rewards.size(1);
  const torch::Tensor m = mask.to(rewards.dtype());
  torch::Tensor next_value = bootstrap.defined() ? bootstrap.to(rewards.dtype()) : torch::zeros({rewards.size(0)}, rewards.options());
  torch::Tensor next_adv = torch::zeros({rewards.size(0)}, rewards.options());
  std::vector<torch::Tensor> adv(T);
  for (int64_t t = T - 1; t >= 0; --t) {
    const torch::Tensor mt = m.select(1, t);
    const torch::Tensor v = values.select(1, t);
    // Past the row's last token the mask is 0: carry the bootstrap value and a zero advantage back to
    // the last token unchanged.
    const torch::Tensor delta = rewards.select(1, t) + gamma * next_value - v;
    const torch::Tensor a = delta + gamma * lambda * next_adv;
    adv[t] = a * mt;
    next_value = torch::where(mt > 0, v, next_value);
    next_adv = torch::where(mt > 0, a, next_adv);
  }
  Gae g;
  g.advantages = torch::stack(adv, 1);
  g.returns = (g.advantages + values) * m;
  return g;
}

PolicyLoss ppo_policy_loss(const torch::Tensor& logp, const torch::Tensor& old_logp, const torch::Tensor& advantages,
                           const torch::Tensor& mask, double clip) {
  const torch::Tensor log_ratio = logp - old_logp;
  const torch::Tensor ratio = torch::exp(log_ratio);
  const torch::Tensor unclipped = ratio * advantages;
  const torch::Tensor clipped = torch::clamp(ratio, 1 - clip, 1 + clip) * advantages;
  PolicyLoss r;
  r.loss = -masked_mean(torch::min(unclipped, clipped), mask);
  torch::NoGradGuard no_grad;
  r.clip_frac = masked_mean((clipped < unclipped).to(logp.dtype()), mask).item<double>();
  r.approx_kl = masked_mean(ratio - 1 - log_ratio, mask).item<double>();
  return r;
}

torch::Tensor value_loss(const torch::Tensor& values, const torch::Tensor& old_values, const torch::Tensor& returns,
                         const torch::Tensor& mask, double clip) {
  const torch::Tensor err = (values - returns).pow(2);
  if (clip <= 0) return 0.5 * masked_mean(err, mask);
  const torch::Tensor v_clipped = old_values + torch::clamp(values - old_values, -clip, clip);
  return 0.5 * masked_mean(torch::max(err, (v_clipped - returns).pow(2)), mask);
}

namespace {
// [B, T] one-hot of each row's last masked position (rows without tokens: all zero).
torch::Tensor last_position(const torch::Tensor& mask) {
  const torch::Tensor len = mask.sum(1).to(torch::kLong);
  const torch::Tensor idx = (len - 1).clamp_min(0);
  torch::Tensor onehot = torch::zeros_like(mask, mask.options().dtype(torch::kFloat64)).to(mask.dtype());
  onehot.scatter_(1, idx.unsqueeze(1), 1);
  return onehot * (len > 0).unsqueeze(1).to(mask.dtype());
}
}  // namespace

torch::Tensor ppo_token_rewards(const torch::Tensor& scores, const torch::Tensor& kl, const torch::Tensor& mask, double kl_coef,
                                double reward_clip, const torch::Tensor& ended) {
  torch::NoGradGuard no_grad;
  torch::Tensor s = scores.to(kl.dtype());
  if (reward_clip > 0) s = s.clamp(-reward_clip, reward_clip);
  s = s * ended.to(kl.dtype());
  const torch::Tensor m = mask.to(kl.dtype());
  return -kl_coef * kl * m + last_position(m) * s.unsqueeze(1);
}

void KlController::update(double kl, int64_t n_steps) {
  if (target <= 0) return;
  const double err = std::clamp(kl / target - 1, -0.2, 0.2);
  coef *= 1 + err * static_cast<double>(n_steps) / horizon;
}

torch::Tensor remax_loss(const torch::Tensor& logp, const torch::Tensor& mask, const torch::Tensor& reward,
                         const torch::Tensor& greedy_reward) {
  const torch::Tensor adv = (reward - greedy_reward).to(logp.dtype()).detach();
  return sequence_pg_loss(logp, mask, adv);
}

TokenRemax remax_token_loss(const torch::Tensor& logp, const torch::Tensor& ref_logp, const torch::Tensor& mask,
                            const torch::Tensor& reward, const torch::Tensor& greedy_reward, double kl_coef, double gamma,
                            double clip) {
  TokenRemax r;
  {
    torch::NoGradGuard no_grad;
    const torch::Tensor m = mask.to(logp.dtype());
    const int64_t T = logp.size(1);
    const torch::Tensor len = m.sum(1, true);                                          // [B,1]
    const torch::Tensor i = torch::arange(1, T + 1, logp.options()).unsqueeze(0);     // 1..T
    const torch::Tensor discount = torch::pow(gamma, (len - i + 1).clamp_min(0));      // gamma^(T-i+1)
    const torch::Tensor adv = (reward - greedy_reward).to(logp.dtype()).clamp(-clip, clip).unsqueeze(1);
    r.returns = (-kl_coef * (logp.detach() - ref_logp) + discount * adv) * m;
  }
  r.loss = -masked_mean(logp * r.returns, mask.to(logp.dtype()));
  return r;
}

namespace {
torch::Tensor grouped(const torch::Tensor& rewards, int64_t group_size, const char* what) {
  if (group_size < 2) throw UsageError(std::string(what) + ": a group needs at least 2 samples per prompt (--group-size)");
  if (rewards.dim() != 1 || rewards.size(0) % group_size != 0)
    throw UsageError(std::string(what) + ": " + std::to_string(rewards.numel()) + " rewards do not form groups of " + std::to_string(group_size));
  return rewards.view({-1, group_size});
}
}  // namespace

torch::Tensor grpo_advantages(const torch::Tensor& rewards, int64_t group_size) {
  const torch::Tensor g = grouped(rewards, group_size, "GRPO");
  const torch::Tensor mean = g.mean(1, true);
  const torch::Tensor std = g.std(1, true, true);
  return ((g - mean) / (std + 1e-6)).reshape(-1);
}

torch::Tensor rloo_advantages(const torch::Tensor& rewards, int64_t group_size) {
  const torch::Tensor g = grouped(rewards, group_size, "RLOO");
  const torch::Tensor others = (g.sum(1, true) - g) / static_cast<double>(group_size - 1);
  return (g - others).reshape(-1);
}

torch::Tensor sequence_pg_loss(const torch::Tensor& logp, const torch::Tensor& mask, const torch::Tensor& advantages) {
  const torch::Tensor seq_logp = (logp * mask.to(logp.dtype())).sum(1);
  return -(seq_logp * advantages.to(logp.dtype()).detach()).mean();
}

}  // namespace paramkit::rlhf
