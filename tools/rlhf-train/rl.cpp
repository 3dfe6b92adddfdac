// rlhf-train rl: RL fine-tuning of a policy with ReMax, PPO, GRPO or RLOO against a reward model, a
// rule or an external scorer.
#include <cmath>

#include "commands.h"
#include "paramkit/io/json.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/io/svg_plot.h"
#include "paramkit/rlhf/rl.h"
#include "paramkit/torch/device.h"

using namespace paramkit;

namespace {
struct RlSummary {
  std::string algo;
  int64_t iterations = 0;
  bool finished = false;
  double reward_first = NAN, reward_last = NAN, eval_initial = NAN, eval_final = NAN, eval_sampled_initial = NAN, eval_sampled_final = NAN;
  nlohmann::json graph, seconds_per_call, plan;
};
void to_json(nlohmann::json& j, const RlSummary& r) {
  j = {{"algo", r.algo},
       {"iterations", r.iterations},
       {"finished", r.finished},
       {"reward_first", json_number(r.reward_first)},
       {"reward_last", json_number(r.reward_last)},
       {"eval_reward_initial", json_number(r.eval_initial)},
       {"eval_reward_final", json_number(r.eval_final)},
       {"eval_reward_sampled_initial", json_number(r.eval_sampled_initial)},
       {"eval_reward_sampled_final", json_number(r.eval_sampled_final)},
       {"seconds_per_call", r.seconds_per_call},
       {"graph", r.graph}};
  if (!r.plan.is_null()) j["plan"] = r.plan;
}

// reward and eval reward per iteration
std::string metrics_plot(const std::vector<nlohmann::json>& history, const std::string& algo) {
  PlotSeries reward, eval, evals;
  reward.label = "mean reward (samples)";
  eval.label = "eval reward (greedy, held-out)";
  evals.label = "eval reward (sampled, held-out)";
  eval.points = evals.points = true;
  for (const auto& r : history) {
    const double it = r["iteration"].get<double>();
    reward.x.push_back(it);
    reward.y.push_back(r["reward_mean"].get<double>());
    if (r.contains("eval_reward")) {
      eval.x.push_back(it);
      eval.y.push_back(r["eval_reward"].get<double>());
      evals.x.push_back(it);
      evals.y.push_back(r["eval_reward_sampled"].get<double>());
    }
  }
  PlotOptions o;
  o.title = "rlhf-train rl --algo " + algo;
  o.x_label = "iteration";
  o.y_label = "reward";
  return svg_plot({reward, eval, evals}, o);
}

struct RlCommand : cli::TypedCommand<RlSummary> {
  RlCommand()
      : TypedCommand("rl", "RL fine-tuning: ReMax (greedy baseline), PPO (GAE, clipping, critic), GRPO or RLOO",
                     "rlhf-train rl --algo remax --model tests/data/rlhf/tiny-policy --prompts tests/data/rlhf/add-prompts.jsonl "
                     "--reward rule:number --iterations 2 --batch-prompts 4 --max-new-tokens 4 -o /tmp/rlhf-rl") {
    o.gen.max_new_tokens = 64;
  }
  void add_options(CLI::App& app) override {
    app.add_option("--algo", algo, "remax, ppo, grpo or rloo")->capture_default_str()->check(CLI::IsMember({"remax", "ppo", "grpo", "rloo"}));
    add_model_flags(app, source, "The policy to train");
    app.add_option("--ref", ref_dir, "Reference model for the KL term (default: the starting policy)");
    app.add_option("--critic", critic_dir, "PPO's value model (a folder; default: the policy with a new score head)");
    app.add_option("--reward", reward_spec, "model:DIR[@TOKENIZER], rule:exact, rule:number, rule:regex:PATTERN or cmd:COMMAND")->required();
    app.add_option("--prompts", prompts_path, "JSON Lines of prompts (and answers for rule rewards)")->required();
    app.add_option("--eval-prompts", eval_path, "Held-out prompts: greedy responses scored at the start, every --eval-every and at the end");
    app.add_option("--eval-reward", eval_reward_spec, "The score of the held-out responses (default: --reward), e.g. rule:number while training on a reward model");
    add_key_flags(app, keys, "prompt-key answer-key");
    app.add_option("--iterations", o.iterations, "RL iterations (generate, score, update)")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{100000000}));
    app.add_option("--batch-prompts", o.batch_prompts, "Prompts per iteration")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{65536}));
    app.add_option("--group-size", o.group_size, "GRPO/RLOO: samples per prompt")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1024}));
    app.add_option("--max-new-tokens", o.gen.max_new_tokens, "Tokens generated per response")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
    app.add_option("--max-prompt-tokens", o.max_prompt_tokens, "Longer prompts keep their last tokens")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
    app.add_option("--temperature", o.gen.temperature, "Sampling temperature of the rollouts")->capture_default_str()->check(CLI::Range(1e-3, 100.0));
    app.add_option("--top-k", o.gen.top_k, "Sample among the k most likely tokens (0: all)")->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{1} << 24));
    app.add_option("--top-p", o.gen.top_p, "Nucleus sampling mass (1: off)")->capture_default_str()->check(CLI::Range(1e-6, 1.0));
    app.add_option("--lr", o.lr, "Policy learning rate (AdamW)")->capture_default_str()->check(CLI::Range(1e-12, 10.0));
    app.add_option("--critic-lr", o.critic_lr, "Critic learning rate (PPO)")->capture_default_str()->check(CLI::Range(1e-12, 10.0));
    app.add_option("--weight-decay", o.weight_decay, "AdamW weight decay")->capture_default_str()->check(CLI::Range(0.0, 10.0));
    app.add_option("--grad-clip", o.grad_clip, "Gradient norm clip (0: off)")->capture_default_str()->check(CLI::Range(0.0, 1e6));
    app.add_option("--kl-coef", o.kl_coef, "KL-to-reference coefficient (0: no reference model)")->capture_default_str()->check(CLI::Range(0.0, 1e3));
    app.add_option("--kl-target", o.kl_target, "Adaptive KL: target KL per sequence (0: fixed coefficient)")->capture_default_str()->check(CLI::Range(0.0, 1e6));
    app.add_option("--kl-horizon", o.kl_horizon, "Adaptive KL horizon (sequences)")->capture_default_str()->check(CLI::Range(1.0, 1e12));
    app.add_option("--kl-estimator", kl_estimator, "k1, k2 or k3")->capture_default_str()->check(CLI::IsMember({"k1", "k2", "k3"}));
    app.add_option("--kl-in", kl_in, "PPO: KL as a per-token reward penalty (reward) or a loss term (loss)")->capture_default_str()->check(CLI::IsMember({"reward", "loss"}));
    app.add_option("--gae-gamma", o.gae_gamma, "PPO discount")->capture_default_str()->check(CLI::Range(0.0, 1.0));
    app.add_option("--gae-lambda", o.gae_lambda, "PPO GAE lambda")->capture_default_str()->check(CLI::Range(0.0, 1.0));
    app.add_option("--clip", o.clip, "Ratio clip epsilon (PPO, GRPO, RLOO)")->capture_default_str()->check(CLI::Range(1e-6, 10.0));
    app.add_option("--value-clip", o.value_clip, "PPO value clip (0: off)")->capture_default_str()->check(CLI::Range(0.0, 1e6));
    app.add_option("--vf-coef", o.vf_coef, "PPO value-loss coefficient")->capture_default_str()->check(CLI::Range(0.0, 1e6));
    app.add_option("--epochs", o.epochs, "Passes over each rollout batch (PPO, GRPO, RLOO)")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1000}));
    app.add_option("--minibatches", o.minibatches, "Minibatches per pass (PPO, GRPO, RLOO)")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{65536}));
    app.add_flag("!--no-whiten", o.whiten_advantages, "PPO: do not whiten advantages");
    app.add_option("--reward-clip", o.reward_clip, "PPO: clip scores to +-this (0: off)")->capture_default_str()->check(CLI::Range(0.0, 1e12));
    app.add_flag("--remax-token-level", o.remax_token_level, "ReMax: the reference repository's per-token returns with a KL penalty");
    app.add_option("--remax-gamma", o.remax_gamma, "Token-level ReMax discount")->capture_default_str()->check(CLI::Range(0.0, 1.0));
    app.add_option("--remax-clip", o.remax_clip, "Token-level ReMax: clip r - r_greedy to +-this")->capture_default_str()->check(CLI::Range(1e-6, 1e12));
    app.add_option("--eval-every", o.eval_every, "Evaluate on --eval-prompts every N iterations (0: start and end)")->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{100000000}));
    app.add_option("--plan", planned.plan_file, "Execute this ReaLHF plan (JSON as `plan` writes it) across the processes of `launch`/torchrun")
        ->check(CLI::ExistingFile);
    app.add_option("--cluster", planned.cluster_file, "With --plan: a cluster file (`profile`) for the cost model's predicted time per call")
        ->check(CLI::ExistingFile);
    cli::add_output_file(app, "--plan-report", planned.report, "With --plan: predicted vs measured time per call (JSON)");
    cli::add_output_file(app, "--timeline", planned.timeline, "With --plan: the calls on their processes over the iteration (SVG)");
    app.add_option("--timeout", planned.timeout, "With --plan: seconds any wait on another process may take")->capture_default_str()->check(CLI::Range(1.0, 86400.0));
    cli::add_checkpointing(app, o.checkpoint, "iterations");
    cli::add_output_file(app, "--log-jsonl", log_jsonl, "Per-iteration metrics as JSON Lines");
    cli::add_output_file(app, "--plot", plot, "Reward and eval reward per iteration (SVG)");
    cli::add_output(app, out, "Output policy folder (Hugging Face layout, with the tokenizer)");
  }
  RlSummary run(cli::Context& ctx) override {
    o.algo = rlhf::parse_algo(algo);
    o.kl_estimator = rlhf::parse_kl_estimator(kl_estimator, "--kl-estimator");
    o.kl_in_reward = kl_in == "reward";
    o.log_jsonl = log_jsonl;
    o.validate();
    if (!planned.plan_file.empty()) return run_with_plan(ctx);
    if (!planned.cluster_file.empty() || !planned.report.empty() || !planned.timeline.empty())
      throw UsageError("--cluster, --plan-report and --timeline go with --plan");
    const c10::Device dev = parse_device(ctx.common.device);
    const auto prompts = rlhf::read_prompts(prompts_path, keys);
    std::vector<rlhf::PromptExample> eval;
    if (!eval_path.empty()) eval = rlhf::read_prompts(eval_path, keys);
    auto reward = rlhf::make_reward(reward_spec, dev);
    std::unique_ptr<rlhf::Reward> eval_reward;
    if (!eval_reward_spec.empty()) eval_reward = rlhf::make_reward(eval_reward_spec, dev);
    rlhf::LoadedModel policy = rlhf::load_model(source, lm::Head::lm, dev, ctx.common.seed);
    rlhf::RlModels models;
    models.actor = policy.model;
    if (o.kl_coef > 0) {
      rlhf::ModelSource r = source;
      if (!ref_dir.empty()) r.model = ref_dir, r.model_config.clear();
      models.ref = rlhf::load_model(r, lm::Head::lm, dev, ctx.common.seed).model;
      models.ref->eval();
      for (auto& p : models.ref->parameters()) p.set_requires_grad(false);
    }
    if (o.algo == rlhf::Algo::ppo) {
      rlhf::ModelSource c = source;
      if (!critic_dir.empty()) c.model = critic_dir, c.model_config.clear();
      models.critic = rlhf::load_model(c, lm::Head::score, dev, ctx.common.seed + 1).model;
    }
    rlhf::RlResult r;
    {
      auto t = ctx.timers.scope("train");
      r = rlhf::train_rl(models, *policy.tokenizer, prompts, eval, *reward, o, ctx.common.seed, eval_reward.get());
    }
    RlSummary s;
    s.algo = algo;
    s.iterations = r.iterations;
    s.finished = r.finished;
    s.eval_initial = r.eval_initial;
    s.eval_final = r.eval_final;
    s.eval_sampled_initial = r.eval_sampled_initial;
    s.eval_sampled_final = r.eval_sampled_final;
    s.graph = rlhf::graph_to_json(rlhf::iteration_graph(o));
    s.seconds_per_call = nlohmann::json::object();
    if (!r.history.empty()) {
      s.reward_first = r.history.front()["reward_mean"].get<double>();
      s.reward_last = r.history.back()["reward_mean"].get<double>();
      for (const auto& rec : r.history)
        for (auto it = rec["seconds"].begin(); it != rec["seconds"].end(); ++it)
          s.seconds_per_call[it.key()] = s.seconds_per_call.value(it.key(), 0.0) + it.value().get<double>() / static_cast<double>(r.history.size());
    }
    if (!r.finished) return s;
    check_stop();
    const std::string svg = plot.empty() ? "" : metrics_plot(r.history, algo);
    rlhf::save_model(*policy.model, policy, out);
    if (!plot.empty()) write_file_atomic(plot, svg);
    return s;
  }
  RlSummary run_with_plan(cli::Context& ctx) {
    if (o.eval_every > 0) throw UsageError("--plan: --eval-every is not supported with an executed plan (--eval-prompts are scored at the start and the end)");
    if (!plot.empty()) throw UsageError("--plan: --plot is not supported with an executed plan (see --timeline)");
    planned.source = source;
    planned.ref_dir = ref_dir;
    planned.critic_dir = critic_dir;
    planned.eval_path = eval_path;
    planned.eval_reward_spec = eval_reward_spec;
    planned.reward_spec = reward_spec;
    planned.prompts_path = prompts_path;
    planned.out = out;
    planned.keys = keys;
    planned.o = o;
    const PlannedOutcome r = run_planned(planned, ctx);
    RlSummary s;
    s.algo = algo;
    s.iterations = r.iterations;
    s.finished = r.finished;
    s.graph = rlhf::graph_to_json(rlhf::iteration_graph(o));
    s.plan = r.report;
    s.eval_initial = r.eval_initial;
    s.eval_final = r.eval_final;
    s.eval_sampled_initial = r.eval_sampled_initial;
    s.eval_sampled_final = r.eval_sampled_final;
    if (!r.history.empty()) {
      s.reward_first = r.history.front()["reward_mean"].get<double>();
      s.reward_last = r.history.back()["reward_mean"].get<double>();
    }
    return s;
  }
  PlannedRun planned;
  std::string algo = "remax", kl_estimator = "k1", kl_in = "reward";
  rlhf::ModelSource source;
  std::string ref_dir, critic_dir, reward_spec, eval_reward_spec, prompts_path, eval_path, log_jsonl, plot, out;
  rlhf::JsonlKeys keys;
  rlhf::RlOptions o;
};
}  // namespace

void add_rl(cli::Tool& tool) { tool.add<RlCommand>(); }
