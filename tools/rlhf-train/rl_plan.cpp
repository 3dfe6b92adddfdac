// rlhf-train rl --plan FILE: ReMax, PPO, GRPO or RLOO under a ReaLHF execution plan across the processes `launch` (or
// torchrun) started. The plan is checked against the world and the models before any process connects
// (exit 2 everywhere); rank 0 loads the models, writes the policy, the metrics and the plan report: per
// call its placement, the cost model's predicted start/end (with --cluster, a `profile` file) and the
// measured ones, drawn as a timeline.
#include <fmt/format.h>

#include <cmath>

#include "commands.h"
#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/io/json.h"
#include "paramkit/io/svg_plot.h"
#include "paramkit/rlhf/plan.h"
#include "paramkit/rlhf/planned.h"
#include "paramkit/torch/device.h"

using namespace paramkit;
namespace pl = paramkit::rlhf::plan;

namespace {
std::map<std::string, torch::Tensor> named_tensors(lm::CausalLMImpl& m) {
  std::map<std::string, torch::Tensor> r;
  for (const auto& kv : m.named_parameters()) r[kv.key()] = kv.value().detach();
  return r;
}

// The reference and the critic run under the policy's config: theirs must be the same.
bool same_architecture(const lm::LmConfig& a, const lm::LmConfig& b) {
  return a.arch == b.arch && a.num_layers == b.num_layers && a.hidden_size == b.hidden_size && a.num_heads == b.num_heads &&
         a.num_kv_heads == b.num_kv_heads && a.head_dim == b.head_dim && a.intermediate_size == b.intermediate_size &&
         a.vocab_size == b.vocab_size && a.max_positions == b.max_positions && a.tie_word_embeddings == b.tie_word_embeddings &&
         a.norm_eps == b.norm_eps && a.rope_theta == b.rope_theta && a.rope_scaling.type == b.rope_scaling.type &&
         a.rope_scaling.factor == b.rope_scaling.factor;
}

// Predicted vs measured per call (measured: the mean over iterations after the first, a warm-up).
nlohmann::json plan_report(const rlhf::ExecutionPlan& plan, const rlhf::PlannedResult& res, const pl::Workload* w, const pl::Schedule* s,
                           const pl::Plan* p) {
  nlohmann::json calls = nlohmann::json::array();
  double iteration = 0;
  const size_t n = res.history.size(), skip = n > 1 ? 1 : 0;
  for (const auto& [name, spans] : res.spans) {
    double st = 0, en = 0;
    for (size_t i = skip; i < spans.size(); ++i) {
      st += spans[i].first / static_cast<double>(spans.size() - skip);
      en += spans[i].second / static_cast<double>(spans.size() - skip);
    }
    const auto& place = plan.calls.at(name);
    nlohmann::json c = {{"call", name},
                        {"mesh", {{"first", place.ranks.front()}, {"size", place.ranks.size()}}},
                        {"dp", place.layout.dp},
                        {"tp", place.layout.tp},
                        {"pp", place.layout.pp},
                        {"micro_batches", place.micro_batches},
                        {"measured", {{"start_s", st}, {"end_s", en}, {"seconds", en - st}}}};
    if (w)
      for (size_t i = 0; i < w->calls.size(); ++i)
        if (w->calls[i].name == name)
          c["predicted"] = {{"start_s", s->start[i]}, {"end_s", s->end[i]},          {"seconds", s->end[i] - s->start[i]},
                            {"compute_s", s->cost[i].compute}, {"comm_s", s->cost[i].comm}, {"realloc_s", s->cost[i].realloc}};
    iteration = std::max(iteration, en);
    calls.push_back(c);
  }
  // in the iteration's order
  std::sort(calls.begin(), calls.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
    return a["measured"]["start_s"].get<double>() < b["measured"]["start_s"].get<double>();
  });
  nlohmann::json r = {{"calls", calls}, {"measured_iteration_s", iteration}, {"iterations_averaged", n - skip}};
  if (s) r["predicted_iteration_s"] = s->makespan;
  (void)p;
  return r;
}

// Measured spans as filled boxes over each call's processes, predicted ones dashed.
void write_plan_timeline(const std::string& path, const nlohmann::json& report, const std::string& title) {
  std::vector<PlotSeries> series;
  int color = 0;
  for (const auto& c : report["calls"]) {
    const double y0 = c["mesh"]["first"].get<double>(), y1 = y0 + c["mesh"]["size"].get<double>() - 0.15;
    auto box = [&](double a, double b, double inset, bool predicted) {
      PlotSeries s;
      s.label = predicted ? "" : fmt::format("{} (dp{} tp{} pp{})", c["call"].get<std::string>(), c["dp"].get<int64_t>(), c["tp"].get<int64_t>(),
                                             c["pp"].get<int64_t>());
      s.legend = !predicted;
      s.color = color;
      s.dash = predicted ? Dash::dashed : Dash::solid;
      s.line_width = predicted ? 1.0 : 1.8;
      s.x = {a, b, b, a, a};
      s.y = {y0 + inset, y0 + inset, y1 - inset, y1 - inset, y0 + inset};
      series.push_back(s);
    };
    box(c["measured"]["start_s"].get<double>(), c["measured"]["end_s"].get<double>(), 0, false);
    if (c.contains("predicted")) box(c["predicted"]["start_s"].get<double>(), c["predicted"]["end_s"].get<double>(), 0.12, true);
    ++color;
  }
  PlotOptions o;
  o.title = title;
  o.x_label = "seconds into the iteration (solid: measured, dashed: predicted)";
  o.y_label = "process";
  write_file_atomic(path, svg_plot(series, o));
}
}  // namespace

PlannedOutcome run_planned(const PlannedRun& r, cli::Context& ctx) {
  const rlhf::dist::Env env = rlhf::dist::env_from_environment();
  ctx.write_metrics = env.rank == 0;  // one report per job
  const rlhf::RlOptions& o = r.o;
  if (parse_device(ctx.common.device).type() != c10::kCPU) throw UsageError("--plan: processes run on the CPU over Gloo in this build (--device cpu)");
  const auto prompts = rlhf::read_prompts(r.prompts_path, r.keys);
  const rlhf::ExecutionPlan plan = rlhf::read_execution_plan(read_json(r.plan_file), r.plan_file);
  // Every process reads the configs and tokenizers; rank 0 keeps the weights.
  rlhf::LoadedModel policy = rlhf::load_model(r.source, lm::Head::lm, c10::kCPU, ctx.common.seed);
  rlhf::PlannedSetup setup;
  setup.actor_config = policy.model->config();
  const bool with_ref = o.kl_coef > 0;
  std::unique_ptr<rlhf::Reward> rule;
  lm::CausalLM reward_model{nullptr};
  if (r.reward_spec.rfind("model:", 0) == 0) {
    std::string dir = r.reward_spec.substr(6), tok = dir;
    const size_t at = dir.rfind('@');
    if (at != std::string::npos) tok = dir.substr(at + 1), dir = dir.substr(0, at);
    setup.reward_config = lm::read_lm_config(std::filesystem::path(dir) / "config.json");
    setup.reward_tokenizer = at == std::string::npos ? rlhf::folder_tokenizer(dir) : std::shared_ptr<const text::Tokenizer>(text::load_tokenizer(tok));
    if (env.rank == 0) {
      lm::LoadOptions lo;
      lo.head = lm::Head::score;
      setup.reward_full = named_tensors(*lm::load_causal_lm(dir, lo));
    }
  } else {
    rule = rlhf::make_reward(r.reward_spec, c10::kCPU);
    setup.reward = rule.get();
    if (rule->needs_answers())
      for (size_t i = 0; i < prompts.size(); ++i)
        if (!prompts[i].answer) throw UsageError(fmt::format("--reward {}: prompt {} has no answer", rule->describe(), i + 1));
  }
  rlhf::validate_execution_plan(plan, env.world, o, setup.actor_config, setup.reward_config ? &*setup.reward_config : nullptr, r.plan_file);
  if (with_ref && env.rank == 0) {
    rlhf::ModelSource rs = r.source;
    if (!r.ref_dir.empty()) rs.model = r.ref_dir, rs.model_config.clear();
    lm::CausalLM ref = rlhf::load_model(rs, lm::Head::lm, c10::kCPU, ctx.common.seed).model;
    if (!same_architecture(ref->config(), setup.actor_config)) throw UsageError("--ref: under --plan the reference model must have the policy's architecture");
    setup.ref_full = named_tensors(*ref);
  }
  if (o.algo == rlhf::Algo::ppo) {  // the value model: --critic, else the policy with a new score head (as without a plan)
    rlhf::ModelSource cs = r.source;
    if (!r.critic_dir.empty()) cs.model = r.critic_dir, cs.model_config.clear();
    lm::CausalLM critic = rlhf::load_model(cs, lm::Head::score, c10::kCPU, ctx.common.seed + 1).model;
    if (!same_architecture(critic->config(), setup.actor_config)) throw UsageError("--critic: under --plan the critic must have the policy's architecture");
    if (env.rank == 0) setup.critic_full = named_tensors(*critic);
  }
  if (env.rank == 0) setup.actor_full = named_tensors(*policy.model);
  std::optional<pl::Cluster> cluster;
  if (!r.cluster_file.empty()) cluster = pl::cluster_from_json(read_json(r.cluster_file), r.cluster_file);

  rlhf::dist::Group g(env, r.timeout);
  std::optional<JsonlLog> jsonl;
  rlhf::RlOptions oo = o;
  oo.log_jsonl.clear();
  rlhf::PlannedResult res;
  {
    auto t = ctx.timers.scope("train");
    res = rlhf::train_planned(g, setup, *policy.tokenizer, prompts, oo, plan, ctx.common.seed, [&](const nlohmann::json& rec) {
      if (env.rank == 0 && !o.log_jsonl.empty()) {
        if (!jsonl) jsonl.emplace(o.log_jsonl, "iteration", o.checkpoint.resuming() ? rec["iteration"].get<int64_t>() - 1 : -1);
        jsonl->write(rec);
      }
      if (env.rank == 0)
        log::info("iteration {}: reward {:.4f}{}, loss {:.4g}", rec["iteration"].get<int64_t>(), rec["reward_mean"].get<double>(),
                  rec.contains("greedy_reward_mean") ? fmt::format(" (greedy {:.4f})", rec["greedy_reward_mean"].get<double>()) : std::string(),
                  rec["loss"].get<double>());
    });
  }
  PlannedOutcome out;
  out.iterations = res.iterations;
  out.finished = res.finished;
  out.history = res.history;
  if (env.rank != 0) return out;
  // The cost model's prediction of this plan on the declared (profiled) machine.
  std::optional<pl::Workload> w;
  pl::Plan p;
  pl::Schedule s;
  if (cluster) {
    int64_t prompt_len = 0;
    for (const auto& e : prompts) prompt_len += static_cast<int64_t>(rlhf::prompt_ids(*policy.tokenizer, e.prompt, o.max_prompt_tokens).size());
    prompt_len = std::max<int64_t>(1, prompt_len / static_cast<int64_t>(prompts.size()));
    const pl::ModelSize actor = model_size_of(setup.actor_config, "actor");
    const bool grouped = o.algo == rlhf::Algo::grpo || o.algo == rlhf::Algo::rloo;
    w = pl::rlhf_workload(rlhf::algo_name(o.algo), actor, setup.reward_config ? model_size_of(*setup.reward_config, "reward") : actor,
                          o.batch_prompts * (grouped ? o.group_size : 1), prompt_len,
                          o.gen.max_new_tokens, with_ref);
    for (const auto& c : w->calls) {
      const auto& place = plan.calls.at(c.name);
      pl::Assignment a;
      a.mesh = {place.ranks.front(), static_cast<int64_t>(place.ranks.size())};
      a.s = {place.layout.dp, place.layout.tp, place.layout.pp, false};
      p.push_back(a);
    }
    w->micro_batches = plan.calls.at("actor_train").micro_batches;
    s = pl::simulate(*w, *cluster, p);
  }
  out.report = plan_report(plan, res, w ? &*w : nullptr, w ? &s : nullptr, w ? &p : nullptr);
  out.report["world"] = env.world;
  if (cluster) out.report["cluster"] = pl::to_json(*cluster);
  if (!r.report.empty()) write_report(r.report, out.report);
  if (!r.timeline.empty())
    write_plan_timeline(r.timeline, out.report, fmt::format("rl --plan on {} processes: {:.2f} s per iteration measured{}", env.world,
                                                            out.report["measured_iteration_s"].get<double>(),
                                                            cluster ? fmt::format(", {:.2f} s predicted", s.makespan) : std::string()));
  // Held-out evaluation on rank 0 after the other processes are done: the starting policy (still in
  // policy.model), then the trained one, greedy and sampled as without a plan.
  std::vector<rlhf::PromptExample> eval;
  std::unique_ptr<rlhf::Reward> eval_reward;
  if (!r.eval_path.empty()) {
    eval = rlhf::read_prompts(r.eval_path, r.keys);
    eval_reward = rlhf::make_reward(r.eval_reward_spec.empty() ? r.reward_spec : r.eval_reward_spec, c10::kCPU);
  }
  auto evaluate = [&](double& greedy, double& sampled) {
    if (eval.empty()) return;
    lm::GenerateOptions g = rlhf::with_eos(o.gen, *policy.tokenizer, setup.actor_config);
    g.greedy = true;
    greedy = rlhf::evaluate_policy(*policy.model, *policy.tokenizer, eval, *eval_reward, g, 32, o.max_prompt_tokens);
    g.greedy = false;
    g.seed = ctx.common.seed ^ 0xE7A15EEDULL;
    sampled = rlhf::evaluate_policy(*policy.model, *policy.tokenizer, eval, *eval_reward, g, 32, o.max_prompt_tokens);
  };
  if (!o.checkpoint.resuming()) evaluate(out.eval_initial, out.eval_sampled_initial);
  {
    torch::NoGradGuard ng;
    for (const auto& kv : policy.model->named_parameters()) kv.value().copy_(res.actor_final.at(kv.key()));
  }
  if (res.finished) {
    evaluate(out.eval_final, out.eval_sampled_final);
    if (!eval.empty())
      log::info("eval reward: {:.4f} -> {:.4f} greedy, {:.4f} -> {:.4f} sampled", out.eval_initial, out.eval_final, out.eval_sampled_initial,
                out.eval_sampled_final);
    check_stop();
    rlhf::save_model(*policy.model, policy, r.out);
  }
  return out;
}
