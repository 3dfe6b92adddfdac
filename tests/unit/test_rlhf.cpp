// RLHF estimators against exact values: the ReMax gradient on a policy small enough to enumerate, GAE
// against its definition, PPO's clipping, KL estimators against the exact KL, group baselines.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "paramkit/lm/generate.h"
#include "paramkit/rlhf/algorithms.h"
#include "paramkit/rlhf/rl.h"

using namespace paramkit::rlhf;

namespace {
constexpr int64_t kVocab = 3, kLen = 3;

// An autoregressive policy over 3 tokens and 3 positions: logits theta[t][prev] (prev 0 = start).
struct TinyPolicy {
  torch::Tensor theta = torch::randn({kLen, kVocab + 1, kVocab}, torch::kFloat64).requires_grad_(true);
  // per-token log-probabilities [1, kLen] of sequence y
  torch::Tensor token_logp(const std::vector<int64_t>& y) const {
    std::vector<torch::Tensor> lp;
    int64_t prev = 0;
    for (int64_t t = 0; t < kLen; ++t) {
      lp.push_back(torch::log_softmax(theta[t][prev], 0)[y[t]]);
      prev = y[t] + 1;
    }
    return torch::stack(lp).unsqueeze(0);
  }
  std::vector<int64_t> greedy() const {
    std::vector<int64_t> y;
    int64_t prev = 0;
    for (int64_t t = 0; t < kLen; ++t) {
      y.push_back(theta[t][prev].argmax().item<int64_t>());
      prev = y.back() + 1;
    }
    return y;
  }
};

std::vector<std::vector<int64_t>> all_sequences() {
  std::vector<std::vector<int64_t>> out;
  for (int64_t a = 0; a < kVocab; ++a)
    for (int64_t b = 0; b < kVocab; ++b)
      for (int64_t c = 0; c < kVocab; ++c) out.push_back({a, b, c});
  return out;
}
int64_t index_of(const std::vector<int64_t>& y) { return (y[0] * kVocab + y[1]) * kVocab + y[2]; }

torch::Tensor flat_grad(const torch::Tensor& loss, const torch::Tensor& p) {
  return torch::autograd::grad({loss}, {p}, {}, /*retain_graph=*/true)[0].reshape(-1);
}
}  // namespace

TEST_CASE("ReMax on an enumerable policy: unbiased for the exact gradient, lower variance than REINFORCE") {
  torch::manual_seed(3);
  TinyPolicy pi;
  const auto seqs = all_sequences();
  // rewards with a large common offset (where a baseline matters)
  const torch::Tensor r = 5 + torch::rand({static_cast<int64_t>(seqs.size())}, torch::kFloat64);
  // exact gradient of E[r] = sum_y p(y) r(y)
  std::vector<torch::Tensor> p;
  for (const auto& y : seqs) p.push_back(pi.token_logp(y).sum().exp());
  const torch::Tensor probs = torch::stack(p);
  const torch::Tensor exact = flat_grad((probs * r).sum(), pi.theta);
  const double r_greedy = r[index_of(pi.greedy())].item<double>();
  const torch::Tensor mask = torch::ones({1, kLen}, torch::kFloat64);
  // per-sequence gradient estimates (the gradient of -loss: loss is minimised)
  std::vector<torch::Tensor> g_remax, g_reinforce;
  for (size_t k = 0; k < seqs.size(); ++k) {
    const torch::Tensor lp = pi.token_logp(seqs[k]);
    const torch::Tensor rk = r[k].reshape({1});
    g_remax.push_back(-flat_grad(remax_loss(lp, mask, rk, torch::full({1}, r_greedy, torch::kFloat64)), pi.theta));
    g_reinforce.push_back(-flat_grad(sequence_pg_loss(lp, mask, rk), pi.theta));
  }
  const torch::Tensor G = torch::stack(g_remax), Gr = torch::stack(g_reinforce);
  const torch::Tensor w = probs.detach().unsqueeze(1);
  // exact expectation of the estimator over y ~ pi equals the exact gradient
  const torch::Tensor mean_remax = (w * G).sum(0);
  CHECK(torch::allclose(mean_remax, exact, 1e-10, 1e-12));
  CHECK(torch::allclose((w * Gr).sum(0), exact, 1e-10, 1e-12));
  // total per-sample variance (trace of the covariance)
  const double var_remax = (w * (G - mean_remax).pow(2)).sum().item<double>();
  const double var_reinforce = (w * (Gr - exact).pow(2)).sum().item<double>();
  CHECK(var_remax < 0.2 * var_reinforce);
  // Monte Carlo: the sample mean of 4000 draws lies within 5 standard errors of the exact gradient
  const int64_t n = 4000;
  const torch::Tensor draws = torch::multinomial(probs.detach(), n, true);
  const torch::Tensor mc = G.index_select(0, draws);
  const torch::Tensor se = mc.std(0) / std::sqrt(static_cast<double>(n));
  CHECK(((mc.mean(0) - exact).abs() <= 5 * se + 1e-12).all().item<bool>());
}

TEST_CASE("GAE: the return-to-go at gamma = lambda = 1 and V = 0, and the recursion on ragged rows with a bootstrap") {
  torch::manual_seed(1);
  const torch::Tensor rew = torch::randn({3, 5}, torch::kFloat64);
  torch::Tensor mask = torch::ones({3, 5}, torch::kFloat64);
  mask[1].slice(0, 3).zero_();  // row 1 has 3 tokens
  mask[2].slice(0, 1).zero_();  // row 2 has 1 token
  const Gae g0 = gae(rew * mask, torch::zeros_like(rew), mask, 1.0, 1.0);
  const torch::Tensor rtg = torch::flip(torch::cumsum(torch::flip(rew * mask, {1}), 1), {1}) * mask;
  CHECK(torch::allclose(g0.advantages, rtg, 1e-12, 1e-12));
  CHECK(torch::allclose(g0.returns, rtg, 1e-12, 1e-12));
  // general gamma, lambda, values and bootstrap against the textbook loop
  const double gamma = 0.9, lambda = 0.8;
  const torch::Tensor v = torch::randn({3, 5}, torch::kFloat64);
  const torch::Tensor boot = torch::tensor({0.0, 0.7, -1.3}, torch::kFloat64);
  const Gae g = gae(rew, v, mask, gamma, lambda, boot);
  for (int64_t b = 0; b < 3; ++b) {
    const int64_t len = mask[b].sum().item<int64_t>();
    double next_v = boot[b].item<double>(), next_a = 0;
    for (int64_t t = len - 1; t >= 0; --t) {
      const double delta = rew[b][t].item<double>() + gamma * next_v - v[b][t].item<double>();
      const double a = delta + gamma * lambda * next_a;
      CHECK(g.advantages[b][t].item<double>() == doctest::Approx(a).epsilon(1e-12));
      CHECK(g.returns[b][t].item<double>() == doctest::Approx(a + v[b][t].item<double>()).epsilon(1e-12));
      next_v = v[b][t].item<double>();
      next_a = a;
    }
    for (int64_t t = len; t < 5; ++t) CHECK(g.advantages[b][t].item<double>() == 0);
  }
}

TEST_CASE("PPO: a token past the clip on the side its advantage pushes gets no gradient, others the ratio-weighted advantage") {
  // tokens: ratio 1.5 with A > 0 (clipped), ratio 0.5 with A < 0 (clipped), ratio 1.5 with A < 0 (not
  // clipped: the pessimistic min keeps the unclipped term), ratio 1.1 with A > 0 (inside)
  const torch::Tensor old_logp = torch::zeros({1, 4}, torch::kFloat64);
  const torch::Tensor logp = torch::log(torch::tensor({{1.5, 0.5, 1.5, 1.1}}, torch::kFloat64)).requires_grad_(true);
  const torch::Tensor adv = torch::tensor({{2.0, -1.0, -3.0, 0.5}}, torch::kFloat64);
  const torch::Tensor mask = torch::ones({1, 4}, torch::kFloat64);
  const PolicyLoss l = ppo_policy_loss(logp, old_logp, adv, mask, 0.2);
  const torch::Tensor grad = torch::autograd::grad({l.loss}, {logp})[0];
  CHECK(grad[0][0].item<double>() == 0);
  CHECK(grad[0][1].item<double>() == 0);
  CHECK(grad[0][2].item<double>() == doctest::Approx(-(-3.0) * 1.5 / 4));
  CHECK(grad[0][3].item<double>() == doctest::Approx(-0.5 * 1.1 / 4));
  CHECK(l.clip_frac == doctest::Approx(0.5));
  // value clipping: the clipped error is used where it is larger
  const torch::Tensor values = torch::tensor({{2.0, 0.0}}, torch::kFloat64).requires_grad_(true);
  const torch::Tensor vl = value_loss(values, torch::zeros({1, 2}, torch::kFloat64), torch::tensor({{3.0, 0.5}}, torch::kFloat64),
                                      torch::ones({1, 2}, torch::kFloat64), 0.2);
  // token 0: unclipped (2-3)^2 = 1, clipped (0.2-3)^2 = 7.84 -> 7.84 (no gradient); token 1: 0.25 both
  CHECK(vl.item<double>() == doctest::Approx(0.5 * (7.84 + 0.25) / 2));
  const torch::Tensor vg = torch::autograd::grad({vl}, {values})[0];
  CHECK(vg[0][0].item<double>() == 0);
}

TEST_CASE("KL estimators: the means of k1 and k3 equal the exact KL, k3 is never negative, k2 is half the squared log ratio") {
  torch::manual_seed(5);
  const torch::Tensor p = torch::softmax(torch::randn({6}, torch::kFloat64), 0);
  const torch::Tensor q = torch::softmax(torch::randn({6}, torch::kFloat64), 0);
  const double kl = (p * (p.log() - q.log())).sum().item<double>();
  const torch::Tensor lp = p.log(), lq = q.log();
  // exact expectations over x ~ p
  CHECK((p * kl_estimate(lp, lq, KlEstimator::k1)).sum().item<double>() == doctest::Approx(kl).epsilon(1e-12));
  CHECK((p * kl_estimate(lp, lq, KlEstimator::k3)).sum().item<double>() == doctest::Approx(kl).epsilon(1e-12));
  CHECK(torch::allclose(kl_estimate(lp, lq, KlEstimator::k2), 0.5 * (lp - lq).pow(2)));
  // Monte Carlo over 200k draws, within 5 standard errors
  const torch::Tensor x = torch::multinomial(p, 200000, true);
  for (KlEstimator k : {KlEstimator::k1, KlEstimator::k3}) {
    const torch::Tensor s = kl_estimate(lp.index_select(0, x), lq.index_select(0, x), k);
    CHECK(std::fabs(s.mean().item<double>() - kl) < 5 * s.std().item<double>() / std::sqrt(200000.0));
    if (k == KlEstimator::k3) CHECK(s.min().item<double>() >= 0);
  }
  CHECK(parse_kl_estimator("k2", "--kl-estimator") == KlEstimator::k2);
  CHECK_THROWS(parse_kl_estimator("k4", "--kl-estimator"));
}

TEST_CASE("group baselines, adaptive KL and the token-level ReMax returns") {
  const torch::Tensor r = torch::tensor({1.0, 2.0, 3.0, 10.0, 10.0, 13.0}, torch::kFloat64);
  const torch::Tensor rloo = rloo_advantages(r, 3);
  CHECK(rloo[0].item<double>() == doctest::Approx(1 - 2.5));
  CHECK(rloo[5].item<double>() == doctest::Approx(13 - 10));
  const torch::Tensor grpo = grpo_advantages(r, 3);
  CHECK(grpo[0].item<double>() == doctest::Approx(-1.0 / (1 + 1e-6)));  // mean 2, unbiased std 1
  CHECK(grpo.slice(0, 3).sum().item<double>() == doctest::Approx(0).epsilon(1e-12));
  CHECK_THROWS(grpo_advantages(r, 4));
  CHECK_THROWS(rloo_advantages(r, 1));
  KlController c{0.1, 6.0, 10000};
  c.update(12.0, 256);  // err clipped at 0.2
  CHECK(c.coef == doctest::Approx(0.1 * (1 + 0.2 * 256 / 10000.0)));
  KlController fixed{0.1, 0, 10000};
  fixed.update(100, 1000);
  CHECK(fixed.coef == 0.1);
  // token-level ReMax: G_i = -kl (logp_i - ref_i) + gamma^(T-i+1) clip(r - r_g)
  const torch::Tensor logp = torch::tensor({{-1.0, -2.0, -0.5}}, torch::kFloat64).requires_grad_(true);
  const torch::Tensor ref = torch::tensor({{-1.5, -1.0, -0.5}}, torch::kFloat64);
  torch::Tensor mask = torch::ones({1, 3}, torch::kFloat64);
  mask[0][2] = 0;  // T = 2
  const TokenRemax t = remax_token_loss(logp, ref, mask, torch::tensor({9.0}, torch::kFloat64), torch::tensor({1.0}, torch::kFloat64),
                                        0.1, 0.9, 5.0);
  CHECK(t.returns[0][0].item<double>() == doctest::Approx(-0.1 * 0.5 + 0.81 * 5));
  CHECK(t.returns[0][1].item<double>() == doctest::Approx(-0.1 * -1.0 + 0.9 * 5));
  CHECK(t.returns[0][2].item<double>() == 0);
  // PPO token rewards: score only at the last token of finished rows
  const torch::Tensor tr = ppo_token_rewards(torch::tensor({2.0, 2.0}, torch::kFloat64), torch::zeros({2, 3}, torch::kFloat64),
                                             torch::tensor({{1.0, 1.0, 0.0}, {1.0, 1.0, 1.0}}, torch::kFloat64), 0.1, 0,
                                             torch::tensor({true, false}));
  CHECK(tr[0][1].item<double>() == 2.0);
  CHECK(tr.sum().item<double>() == 2.0);
}

TEST_CASE("rollout log-probabilities: the training-time forward gives the sampler's log-probabilities on left-padded prompts") {
  const paramkit::lm::LmConfig cfg = paramkit::lm::LmConfig::gpt2(40, 32, 2, 4, 64);
  paramkit::lm::CausalLM m(cfg, paramkit::lm::Head::lm, 7);
  paramkit::lm::GenerateOptions o;
  o.max_new_tokens = 6;
  o.seed = 3;
  o.eos_ids = {39};
  o.pad_id = 0;
  const auto g = paramkit::lm::generate(*m, {{5, 6, 7, 8, 9}, {11, 12}, {13, 14, 15}}, o);  // temperature 1: plain softmax
  const paramkit::rlhf::TokenStats s = paramkit::rlhf::response_stats(*m, g, true);
  const torch::Tensor mask = g.response_mask.to(torch::kFloat32);
  CHECK(torch::allclose(s.logp * mask, g.logprobs * mask, 1e-5, 1e-5));
  CHECK((s.entropy > 0).all().item<bool>());
  // at a sampling temperature, the trained log-probabilities are the sampler's too
  o.temperature = 0.6;
  const auto g2 = paramkit::lm::generate(*m, {{5, 6, 7, 8, 9}, {11, 12}}, o);
  const torch::Tensor m2 = g2.response_mask.to(torch::kFloat32);
  CHECK(torch::allclose(paramkit::rlhf::response_stats(*m, g2, false, 0.6).logp * m2, g2.logprobs * m2, 1e-5, 1e-5));
}
