#include "paramkit/rlhf/rl.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/memory.h"
#include "paramkit/core/progress.h"
#include "paramkit/core/rng.h"
#include "paramkit/core/signals.h"
#include "paramkit/data/dataset.h"
#include "paramkit/io/json.h"
#include "paramkit/nn/optim.h"
#include "paramkit/torch/checkpoint.h"

namespace paramkit::rlhf {

Algo parse_algo(const std::string& name) {
  if (name == "remax") return Algo::remax;
  if (name == "ppo") return Algo::ppo;
  if (name == "grpo") return Algo::grpo;
  if (name == "rloo") return Algo::rloo;
  throw UsageError("--algo: expected remax, ppo, grpo or rloo, got '" + name + "'");
}

const char* algo_name(Algo a) {
  switch (a) {
    case Algo::remax: return "remax";
    case Algo::ppo: return "ppo";
    case Algo::grpo: return "grpo";
    case Algo::rloo: return "rloo";
  }
  return "?";
}

const char* call_kind_name(CallKind k) {
  return k == CallKind::generate ? "generate" : k == CallKind::inference ? "inference" : "train_step";
}

void RlOptions::validate() const {
  gen.validate();
  const bool grouped = algo == Algo::grpo || algo == Algo::rloo;
  if (grouped && group_size < 2) throw UsageError("--group-size: GRPO and RLOO need at least 2 samples per prompt");
  const int64_t rows = batch_prompts * (grouped ? group_size : 1);
  if (minibatches > rows) throw UsageError(fmt::format("--minibatches {} exceeds the {} sequences of an iteration", minibatches, rows));
  if (kl_target > 0 && kl_coef <= 0) throw UsageError("--kl-target needs --kl-coef > 0 (the starting coefficient)");
  if (algo == Algo::remax && (epochs != 1 || minibatches != 1))
    throw UsageError("--epochs/--minibatches: ReMax takes one step per generation batch (Algorithm 1)");
  checkpoint.validate();
}

std::vector<ModelCall> iteration_graph(const RlOptions& o) {
  const bool remax = o.algo == Algo::remax, ppo = o.algo == Algo::ppo;
  const bool kl = o.kl_coef > 0;
  std::vector<ModelCall> c;
  c.push_back({"actor_generate", "actor", CallKind::generate, {"prompts"}, {"samples"}});
  if (remax) c.push_back({"actor_greedy", "actor", CallKind::generate, {"prompts"}, {"greedy"}});
  c.push_back({"reward_samples", "reward", CallKind::inference, {"samples"}, {"scores"}});
  if (remax) c.push_back({"reward_greedy", "reward", CallKind::inference, {"greedy"}, {"greedy_scores"}});
  if (kl) c.push_back({"ref_inference", "ref", CallKind::inference, {"samples"}, {"ref_logp"}});
  if (!remax) c.push_back({"actor_inference", "actor", CallKind::inference, {"samples"}, {"old_logp"}});
  if (ppo) c.push_back({"critic_inference", "critic", CallKind::inference, {"samples"}, {"old_values"}});
  std::vector<std::string> in = {"samples", "scores"};
  if (remax) in.push_back("greedy_scores");
  if (!remax) in.push_back("old_logp");
  if (ppo) in.push_back("old_values");
  if (kl) in.push_back("ref_logp");
  c.push_back({"actor_train", "actor", CallKind::train_step, in, {"actor"}});
  if (ppo) c.push_back({"critic_train", "critic", CallKind::train_step, in, {"critic"}});
  std::set<std::string> have = {"prompts"};
  for (const auto& call : c) {
    for (const auto& i : call.inputs)
      if (!have.count(i)) throw Error("iteration graph: " + call.name + " reads '" + i + "' before any call produces it");
    have.insert(call.outputs.begin(), call.outputs.end());
  }
  return c;
}

nlohmann::json graph_to_json(const std::vector<ModelCall>& calls) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& c : calls)
    a.push_back({{"name", c.name}, {"model", c.model}, {"kind", call_kind_name(c.kind)}, {"inputs", c.inputs}, {"outputs", c.outputs}});
  return a;
}

std::vector<int64_t> prompt_ids(const text::Tokenizer& tok, const std::string& prompt, int64_t max_tokens) {
  std::vector<int64_t> ids = tok.encode(prompt, true);
  if (static_cast<int64_t>(ids.size()) > max_tokens) ids.erase(ids.begin(), ids.end() - max_tokens);
  if (ids.empty()) throw UsageError("a prompt encodes to no tokens: '" + prompt.substr(0, 40) + "'");
  return ids;
}

Rollout decode_rollout(const lm::GenerateResult& g, const text::Tokenizer& tok, const std::vector<int64_t>& eos) {
  Rollout r;
  r.gen = g;
  r.mask = g.response_mask.to(torch::kFloat32);
  const int64_t B = g.sequences.size(0), P = g.prompt_length;
  const torch::Tensor seq = g.sequences.to(torch::kCPU), rm = g.response_mask.to(torch::kCPU);
  std::vector<uint8_t> ended(static_cast<size_t>(B), 0);
  for (int64_t b = 0; b < B; ++b) {
    std::vector<int64_t> ids;
    const int64_t n = rm[b].sum().item<int64_t>();
    for (int64_t t = 0; t < n; ++t) ids.push_back(seq[b][P + t].item<int64_t>());
    if (!ids.empty() && std::find(eos.begin(), eos.end(), ids.back()) != eos.end()) {
      ended[static_cast<size_t>(b)] = 1;
      ids.pop_back();
    }
    r.texts.push_back(tok.decode(ids, true));
  }
  r.ended = torch::tensor(std::vector<int64_t>(ended.begin(), ended.end()), torch::kInt64).to(torch::kBool);
  return r;
}

namespace {
std::vector<int64_t> eos_ids(const text::Tokenizer& tok, const lm::LmConfig& c, const lm::GenerateOptions& o) {
  if (!o.eos_ids.empty()) return o.eos_ids;
  if (tok.eos_id()) return {*tok.eos_id()};
  return c.eos_token_ids;
}
}  // namespace

lm::GenerateOptions with_eos(lm::GenerateOptions o, const text::Tokenizer& tok, const lm::LmConfig& c) {
  o.eos_ids = eos_ids(tok, c, o);
  if (o.pad_id < 0 && tok.pad_id()) o.pad_id = *tok.pad_id();
  return o;
}


TokenStats response_stats(lm::CausalLMImpl& m, const lm::GenerateResult& g, bool entropy, double temperature) {
  const int64_t P = g.prompt_length, N = g.new_tokens();
  const torch::Tensor h = m.hidden_states(g.sequences, g.attention_mask);
  torch::Tensor logits = m.head_output(h.slice(1, P - 1, P + N - 1));
  if (temperature != 1.0) logits = logits / temperature;
  const torch::Tensor lsm = torch::log_softmax(logits, -1);
  TokenStats s;
  s.logp = lsm.gather(2, g.sequences.slice(1, P).unsqueeze(2)).squeeze(2);
  if (entropy) {
    torch::NoGradGuard no_grad;
    s.entropy = -(lsm.exp() * lsm).sum(-1);
  }
  return s;
}

namespace {
torch::Tensor response_values(lm::CausalLMImpl& critic, const lm::GenerateResult& g) {
  const int64_t P = g.prompt_length, N = g.new_tokens();
  return critic.forward(g.sequences, g.attention_mask).slice(1, P - 1, P + N - 1);
}

torch::Tensor to_tensor(const std::vector<double>& v, c10::Device dev) {
  return torch::tensor(v, torch::kFloat64).to(dev, torch::kFloat32);
}

}  // namespace

std::vector<double> score_responses(Reward& reward, const std::vector<const PromptExample*>& prompts, const std::vector<std::string>& texts) {
  std::vector<RewardQuery> q;
  for (size_t i = 0; i < texts.size(); ++i) q.push_back({&prompts[i]->prompt, &texts[i], &prompts[i]->answer});
  std::vector<double> s = reward.score(q);
  if (s.size() != texts.size()) throw Error("the reward returned " + std::to_string(s.size()) + " scores for " + std::to_string(texts.size()));
  for (double x : s)
    if (!std::isfinite(x)) throw Error("the reward (" + reward.describe() + ") returned a non-finite score");
  return s;
}

namespace {

// The container the checkpoint saves: the trained models under "actor." and "critic.".
struct Trainables : torch::nn::Module {
  Trainables(lm::CausalLM actor, lm::CausalLM critic) {
    register_module("actor", actor.ptr());
    if (critic) register_module("critic", critic.ptr());
  }
};

double clip_and_norm(std::vector<torch::Tensor> params, double max_norm) {
  return max_norm > 0 ? torch::nn::utils::clip_grad_norm_(params, max_norm) : 0.0;
}

// epochs x minibatches over the B rows of a rollout, each pass a fresh seeded permutation: f(rows).
void for_each_minibatch(int64_t B, int64_t epochs, int64_t minibatches, Rng& rng, c10::Device dev,
                        const std::function<void(const torch::Tensor& rows)>& f) {
  for (int64_t e = 0; e < epochs; ++e) {
    const std::vector<int64_t> perm = permutation(B, rng);
    for (int64_t m = 0; m < minibatches; ++m) {
      check_stop();
      const int64_t lo = m * B / minibatches, hi = (m + 1) * B / minibatches;
      f(torch::tensor(std::vector<int64_t>(perm.begin() + lo, perm.begin() + hi), torch::kInt64).to(dev));
    }
  }
}

lm::GenerateResult select_rows(const lm::GenerateResult& g, const torch::Tensor& rows) {
  lm::GenerateResult sub = g;
  sub.sequences = g.sequences.index_select(0, rows);
  sub.attention_mask = g.attention_mask.index_select(0, rows);
  sub.response_mask = g.response_mask.index_select(0, rows);
  return sub;
}
}  // namespace

std::vector<std::string> generate_texts(lm::CausalLMImpl& model, const text::Tokenizer& tok, const std::vector<std::string>& prompts,
                                        const lm::GenerateOptions& o, int64_t batch_size, int64_t max_prompt_tokens) {
  const lm::GenerateOptions go = with_eos(o, tok, model.config());
  std::vector<std::string> out;
  for (size_t i = 0; i < prompts.size(); i += static_cast<size_t>(batch_size)) {
    std::vector<std::vector<int64_t>> ids;
    for (size_t k = i; k < std::min(prompts.size(), i + static_cast<size_t>(batch_size)); ++k)
      ids.push_back(prompt_ids(tok, prompts[k], max_prompt_tokens));
    lm::GenerateOptions bo = go;
    bo.seed = o.seed + i;  // each batch its own stream, the same for any batch size split at the same place
    const Rollout r = decode_rollout(lm::generate(model, ids, bo), tok, go.eos_ids);
    out.insert(out.end(), r.texts.begin(), r.texts.end());
  }
  return out;
}

double evaluate_policy(lm::CausalLMImpl& model, const text::Tokenizer& tok, const std::vector<PromptExample>& prompts, Reward& reward,
                       const lm::GenerateOptions& o, int64_t batch_size, int64_t max_prompt_tokens) {
  if (prompts.empty()) return NAN;
  lm::GenerateOptions g = o;
  g.logprobs = false;
  std::vector<std::string> texts;
  std::vector<const PromptExample*> ps;
  for (const auto& p : prompts) {
    texts.push_back(p.prompt);
    ps.push_back(&p);
  }
  const std::vector<std::string> responses = generate_texts(model, tok, texts, g, batch_size, max_prompt_tokens);
  const std::vector<double> s = score_responses(reward, ps, responses);
  double sum = 0;
  for (double x : s) sum += x;
  return sum / static_cast<double>(s.size());
}

RlResult train_rl(RlModels& models, const text::Tokenizer& tok, const std::vector<PromptExample>& prompts,
                  const std::vector<PromptExample>& eval_prompts, Reward& reward, const RlOptions& o, uint64_t seed,
                  Reward* eval_reward, const std::function<void(const nlohmann::json&)>& on_record) {
  o.validate();
  const bool ppo = o.algo == Algo::ppo, remax = o.algo == Algo::remax;
  const bool grouped = o.algo == Algo::grpo || o.algo == Algo::rloo;
  if (o.kl_coef > 0 && !models.ref) throw UsageError("--kl-coef > 0 needs the reference model");
  if (ppo && !models.critic) throw UsageError("PPO needs a critic (value model)");
  if (reward.needs_answers())
    for (size_t i = 0; i < prompts.size(); ++i)
      if (!prompts[i].answer) throw UsageError(fmt::format("--reward {}: prompt {} has no answer", reward.describe(), i + 1));
  lm::CausalLMImpl& actor = *models.actor;
  const c10::Device dev = actor.device();
  const std::vector<ModelCall> graph = iteration_graph(o);
  const lm::GenerateOptions gen = with_eos(o.gen, tok, actor.config());

  nn::OptimizerOptions ao;
  ao.name = "adamw";
  ao.lr = o.lr;
  ao.weight_decay = o.weight_decay;
  auto actor_opt = nn::make_optimizer(ao, actor.parameters());
  std::unique_ptr<torch::optim::Optimizer> critic_opt;
  if (ppo) {
    nn::OptimizerOptions co = ao;
    co.lr = o.critic_lr;
    critic_opt = nn::make_optimizer(co, models.critic->parameters());
  }
  Trainables trainables(models.actor, ppo ? models.critic : lm::CausalLM(nullptr));
  NamedOptimizers optimizers = {{"actor", actor_opt.get()}};
  if (ppo) optimizers.push_back({"critic", critic_opt.get()});

  KlController kl_ctl{o.kl_coef, o.kl_target, o.kl_horizon};
  RlResult res;
  int64_t start = 0;
  const CheckpointOptions& ck = o.checkpoint;
  if (ck.resuming()) {
    const CheckpointState st = load_checkpoint(ck.path, trainables, optimizers, nullptr);
    start = st.position.step;
    kl_ctl.coef = st.extra.value("kl_coef", o.kl_coef);
    if (st.extra.contains("eval_initial") && st.extra["eval_initial"].is_number()) res.eval_initial = st.extra["eval_initial"].get<double>();
    if (st.extra.contains("eval_sampled_initial") && st.extra["eval_sampled_initial"].is_number())
      res.eval_sampled_initial = st.extra["eval_sampled_initial"].get<double>();
    if (st.extra.value("algo", std::string()) != algo_name(o.algo))
      throw UsageError(ck.path.string() + ": the checkpoint is of --algo " + st.extra.value("algo", std::string("?")) + ", not " + algo_name(o.algo));
    res.resumed = true;
    log::info("resumed from {} at iteration {}", ck.path.string(), start);
  }
  std::optional<JsonlLog> jsonl;
  if (!o.log_jsonl.empty()) jsonl.emplace(o.log_jsonl, "iteration", res.resumed ? start : -1);
  BatchIterator order(static_cast<int64_t>(prompts.size()), o.batch_prompts, /*shuffle=*/true, seed);
  const int64_t per_epoch = order.batches_per_epoch();
  const int64_t eval_batch = 32;
  Reward& scorer = eval_reward ? *eval_reward : reward;
  if (scorer.needs_answers())
    for (size_t i = 0; i < eval_prompts.size(); ++i)
      if (!eval_prompts[i].answer) throw UsageError(fmt::format("--eval-prompts: prompt {} has no answer ({} needs them)", i + 1, scorer.describe()));
  // Held-out reward of greedy responses, and of responses sampled as in the rollouts (a fixed seed, so
  // evaluations differ only by the policy).
  auto eval_now = [&] {
    lm::GenerateOptions g = gen;
    g.greedy = true;
    const double greedy = evaluate_policy(actor, tok, eval_prompts, scorer, g, eval_batch, o.max_prompt_tokens);
    g.greedy = false;
    g.seed = seed ^ 0xE7A15EEDULL;
    return std::make_pair(greedy, evaluate_policy(actor, tok, eval_prompts, scorer, g, eval_batch, o.max_prompt_tokens));
  };
  if (!res.resumed && !eval_prompts.empty()) {
    std::tie(res.eval_initial, res.eval_sampled_initial) = eval_now();
    log::info("eval reward before training: {:.4f} greedy, {:.4f} sampled", res.eval_initial, res.eval_sampled_initial);
  }
  double last_eval = res.eval_initial, last_eval_sampled = res.eval_sampled_initial;
  Progress progress("rl", o.iterations);
  bool updated = false;  // this iteration changed the models (a failure after that keeps the last checkpoint)
  auto save = [&](int64_t next) {
    CheckpointState st;
    st.position.step = next;
    st.extra = {{"kl_coef", kl_ctl.coef}, {"algo", algo_name(o.algo)}};
    if (std::isfinite(res.eval_initial)) st.extra["eval_initial"] = res.eval_initial;
    if (std::isfinite(res.eval_sampled_initial)) st.extra["eval_sampled_initial"] = res.eval_sampled_initial;
    save_checkpoint(ck.path, trainables, optimizers, nullptr, st);
  };

  auto iteration = [&](int64_t it) {
    updated = false;
    // ---- the prompts of this iteration (GRPO/RLOO: each group_size times, consecutively)
    std::vector<const PromptExample*> batch;
    for (int64_t i : order.batch(it / per_epoch, it % per_epoch))
      for (int64_t k = 0; k < (grouped ? o.group_size : 1); ++k) batch.push_back(&prompts[static_cast<size_t>(i)]);
    std::vector<std::vector<int64_t>> ids;
    for (const auto* p : batch) ids.push_back(prompt_ids(tok, p->prompt, o.max_prompt_tokens));
    const int64_t B = static_cast<int64_t>(batch.size());

    Rollout samples, greedy;
    torch::Tensor scores, greedy_scores, ref_logp, old_logp, old_values, adv, returns;
    nlohmann::json rec = {{"iteration", it + 1}};
    nlohmann::json seconds = nlohmann::json::object();
    double policy_loss = 0, value_loss_sum = 0, clip_frac = 0, entropy = 0, kl_seq = 0, grad_norm = 0;
    int64_t updates = 0;
    // KL to the reference per token (k1 of the sampled tokens, the quantity the coefficient controls).
    auto kl_tokens = [&](const torch::Tensor& logp) { return kl_estimate(logp, ref_logp, o.kl_estimator); };
    auto run = [&](const ModelCall& call) {
      if (call.name == "actor_generate" || call.name == "actor_greedy") {
        lm::GenerateOptions g = gen;
        g.greedy = call.name == "actor_greedy";
        g.logprobs = false;
        g.seed = seed * 1000003ULL + static_cast<uint64_t>(it) * 2 + (g.greedy ? 1 : 0);
        (g.greedy ? greedy : samples) = decode_rollout(lm::generate(actor, ids, g), tok, gen.eos_ids);
      } else if (call.name == "reward_samples") {
        scores = to_tensor(score_responses(reward, batch, samples.texts), dev);
      } else if (call.name == "reward_greedy") {
        greedy_scores = to_tensor(score_responses(reward, batch, greedy.texts), dev);
      } else if (call.name == "ref_inference") {
        torch::NoGradGuard ng;
        ref_logp = response_stats(*models.ref, samples.gen, false, gen.temperature).logp * samples.mask;
      } else if (call.name == "actor_inference") {
        torch::NoGradGuard ng;
        old_logp = response_stats(actor, samples.gen, false, gen.temperature).logp * samples.mask;
      } else if (call.name == "critic_inference") {
        torch::NoGradGuard ng;
        old_values = response_values(*models.critic, samples.gen) * samples.mask;
      } else if (call.name == "actor_train") {
        updated = true;
        const torch::Tensor& mask = samples.mask;
        if (ppo) {  // advantages and returns from the rollout, once
          const torch::Tensor kl = ref_logp.defined() && o.kl_in_reward ? kl_tokens(old_logp) : torch::zeros_like(mask);
          const torch::Tensor rewards = ppo_token_rewards(scores, kl, mask, kl_ctl.coef, o.reward_clip, samples.ended);
          const torch::Tensor len = mask.sum(1).to(torch::kLong);
          const torch::Tensor last_v = old_values.gather(1, (len - 1).clamp_min(0).unsqueeze(1)).squeeze(1);
          const torch::Tensor boot = torch::where(samples.ended, torch::zeros_like(last_v), last_v);
          const Gae g = gae(rewards, old_values, mask, o.gae_gamma, o.gae_lambda, boot);
          adv = o.whiten_advantages ? masked_whiten(g.advantages, mask) : g.advantages;
          returns = g.returns;
        } else if (grouped) {
          const torch::Tensor a = o.algo == Algo::grpo ? grpo_advantages(scores, o.group_size) : rloo_advantages(scores, o.group_size);
          adv = a.unsqueeze(1) * mask;
        }
        if (remax) {
          actor_opt->zero_grad();
          const TokenStats s = response_stats(actor, samples.gen, true, gen.temperature);
          torch::Tensor loss;
          if (o.remax_token_level) {
            const torch::Tensor ref = ref_logp.defined() ? ref_logp : s.logp.detach();
            loss = remax_token_loss(s.logp, ref, mask, scores, greedy_scores, kl_ctl.coef, o.remax_gamma, o.remax_clip).loss;
          } else {
            loss = remax_loss(s.logp, mask, scores, greedy_scores);
            if (ref_logp.defined()) loss = loss + kl_ctl.coef * masked_mean(kl_tokens(s.logp), mask);
          }
          loss.backward();
          grad_norm = clip_and_norm(actor.parameters(), o.grad_clip);
          actor_opt->step();
          policy_loss = loss.item<double>();
          entropy = masked_mean(s.entropy, mask).item<double>();
          if (ref_logp.defined()) kl_seq = ((s.logp.detach() - ref_logp) * mask).sum(1).mean().item<double>();
          updates = 1;
          return;
        }
        // PPO / GRPO / RLOO: epochs x minibatches of rows
        Rng rng(seed, 0x5EED0000ULL + static_cast<uint64_t>(it));
        for_each_minibatch(B, o.epochs, o.minibatches, rng, dev, [&](const torch::Tensor& rows) {
          const torch::Tensor mk = mask.index_select(0, rows);
          actor_opt->zero_grad();
          const TokenStats s = response_stats(actor, select_rows(samples.gen, rows), true, gen.temperature);
          const PolicyLoss pl = ppo_policy_loss(s.logp, old_logp.index_select(0, rows), adv.index_select(0, rows), mk, o.clip);
          torch::Tensor loss = pl.loss;
          if (ref_logp.defined() && (!ppo || !o.kl_in_reward))
            loss = loss + kl_ctl.coef * masked_mean(kl_estimate(s.logp, ref_logp.index_select(0, rows), o.kl_estimator), mk);
          loss.backward();
          grad_norm = clip_and_norm(actor.parameters(), o.grad_clip);
          actor_opt->step();
          policy_loss += loss.item<double>();
          clip_frac += pl.clip_frac;
          entropy += masked_mean(s.entropy, mk).item<double>();
          ++updates;
        });
        policy_loss /= static_cast<double>(updates);
        clip_frac /= static_cast<double>(updates);
        entropy /= static_cast<double>(updates);
        if (ref_logp.defined()) kl_seq = ((old_logp - ref_logp) * mask).sum(1).mean().item<double>();
      } else if (call.name == "critic_train") {
        Rng rng(seed, 0xC217000ULL + static_cast<uint64_t>(it));
        int64_t n = 0;
        for_each_minibatch(B, o.epochs, o.minibatches, rng, dev, [&](const torch::Tensor& rows) {
          critic_opt->zero_grad();
          const torch::Tensor v = response_values(*models.critic, select_rows(samples.gen, rows));
          torch::Tensor loss = o.vf_coef * value_loss(v, old_values.index_select(0, rows), returns.index_select(0, rows),
                                                       samples.mask.index_select(0, rows), o.value_clip);
          loss.backward();
          clip_and_norm(models.critic->parameters(), o.grad_clip);
          critic_opt->step();
          value_loss_sum += loss.item<double>();
          ++n;
        });
        rec["value_loss"] = value_loss_sum / static_cast<double>(n);
      } else {
        throw Error("iteration graph: no runner for call " + call.name);
      }
    };
    for (const auto& call : graph) {
      check_stop();
      const auto t0 = std::chrono::steady_clock::now();
      run(call);
      seconds[call.name] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    if (!std::isfinite(policy_loss))
      throw Error(fmt::format("the policy loss is not finite at iteration {} (--lr {:g} too large?); the last checkpoint is kept", it + 1, o.lr));
    // ---- the record
    const torch::Tensor sc = scores.to(torch::kFloat64);
    rec["reward_mean"] = sc.mean().item<double>();
    rec["reward_std"] = B > 1 ? sc.std().item<double>() : 0.0;
    if (remax) rec["greedy_reward_mean"] = greedy_scores.to(torch::kFloat64).mean().item<double>();
    rec["response_length"] = samples.mask.sum(1).to(torch::kFloat64).mean().item<double>();
    rec["ended_fraction"] = samples.ended.to(torch::kFloat64).mean().item<double>();
    rec["policy_loss"] = policy_loss;
    rec["entropy"] = entropy;
    rec["grad_norm"] = grad_norm;
    if (!remax) rec["clip_fraction"] = clip_frac;
    if (ref_logp.defined()) rec["kl"] = kl_seq;
    rec["kl_coef"] = kl_ctl.coef;
    rec["updates"] = updates;
    rec["seconds"] = seconds;
    rec["peak_rss_bytes"] = peak_rss_bytes();
    if (ref_logp.defined()) kl_ctl.update(kl_seq, B);
    const bool last = it + 1 == o.iterations;
    if (!eval_prompts.empty() && (last || (o.eval_every > 0 && (it + 1) % o.eval_every == 0))) {
      std::tie(last_eval, last_eval_sampled) = eval_now();
      rec["eval_reward"] = last_eval;
      rec["eval_reward_sampled"] = last_eval_sampled;
    }
    res.history.push_back(rec);
    if (jsonl) jsonl->write(rec);
    if (on_record) on_record(rec);
    log::info("iteration {}/{}: reward {:.4f}{}", it + 1, o.iterations, rec["reward_mean"].get<double>(),
              rec.contains("eval_reward") ? fmt::format(", eval {:.4f} greedy, {:.4f} sampled", last_eval, last_eval_sampled) : "");
    progress.update(it + 1);
  };
  auto step = [&](int64_t it) {
    try {
      iteration(it);
    } catch (const Interrupted&) {
      throw;
    } catch (const Error&) {
      // A failing scorer or a non-finite loss: keep what was trained so far (the state before this
      // iteration's update when the failure came before it), then end with the error.
      if (!ck.path.empty() && !updated) {
        save(it);
        log::warn("checkpoint saved before iteration {}: --resume continues once the cause is fixed", it + 1);
      }
      throw;
    }
  };
  const LoopOutcome done = run_resumable(ck, start, o.iterations, step, save);
  progress.finish();
  res.iterations = done.done;
  res.finished = done.finished;
  res.eval_final = last_eval;
  res.eval_sampled_final = last_eval_sampled;
  return res;
}

}  // namespace paramkit::rlhf
