// rlhf-train plan: ReaLHF's execution-plan search for a declared cluster (the machine need not be this
// one): the RLHF graph's calls (PPO or ReMax) for actor/critic sizes, the cost model, list scheduling and
// MCMC over one call's (mesh, dp, tp, pp) per move; or the cost of a hand-written plan (--plan). The
// plan (JSON, editable), the predicted time per call and a timeline (SVG), and with --compare the
// fixed layout (every call on the whole cluster with one strategy), a DeepSpeed-Chat-like layout (ZeRO-3
// training and inference, hybrid-engine generation) and the heuristic plan. A simulation: nothing runs on the cluster.
#include <fmt/format.h>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/io/json.h"
#include "paramkit/io/svg_plot.h"
#include "paramkit/rlhf/plan.h"

using namespace paramkit;
namespace pl = paramkit::rlhf::plan;

namespace {
// The plan as plan_to_json writes it (what --plan reads back), each call with its predicted times.
nlohmann::json schedule_json(const pl::Workload& w, const pl::Plan& p, const pl::Schedule& s) {
  nlohmann::json j = pl::plan_to_json(w, p);
  for (size_t i = 0; i < p.size(); ++i)
    j["calls"][i].update({{"start_s", s.start[i]},
                          {"end_s", s.end[i]},
                          {"compute_s", s.cost[i].compute},
                          {"comm_s", s.cost[i].comm},
                          {"realloc_s", s.cost[i].realloc},
                          {"memory_gb", s.cost[i].memory / 1e9}});
  j.update({{"iteration_s", s.makespan}, {"oom", s.oom}, {"pflops", pl::iteration_flops(w) / s.makespan / 1e15}});
  return j;
}

// One bar per call from its mesh's first to last device, over its time span.
void write_timeline(const std::string& path, const pl::Workload& w, const pl::Plan& p, const pl::Schedule& s, const std::string& title) {
  std::vector<PlotSeries> series;
  for (size_t i = 0; i < p.size(); ++i) {
    PlotSeries b;
    b.label = fmt::format("{} (dp{} tp{} pp{})", w.calls[i].name, p[i].s.dp, p[i].s.tp, p[i].s.pp);
    b.color = static_cast<int>(i);
    b.line_width = 1.6;
    const double y0 = static_cast<double>(p[i].mesh.first), y1 = static_cast<double>(p[i].mesh.first + p[i].mesh.size) - 0.15;
    b.x = {s.start[i], s.end[i], s.end[i], s.start[i], s.start[i]};
    b.y = {y0, y0, y1, y1, y0};
    series.push_back(b);
  }
  PlotOptions o;
  o.title = title;
  o.x_label = "time in the iteration (s)";
  o.y_label = "device";
  write_file_atomic(path, svg_plot(series, o));
}

struct PlanCommand : cli::Command {
  PlanCommand()
      : Command("plan", "Search (MCMC) or cost an execution plan of an RLHF iteration on a declared cluster (a simulation)",
                "rlhf-train plan --nodes 2 --gpus-per-node 8 --actor 7b --critic 7b --iterations 2000 --compare -o /tmp/plan.json "
                "--timeline /tmp/plan.svg") {}
  void add_options(CLI::App& app) override {
    app.add_option("--cluster", cluster_file, "Cluster description (JSON: nodes, gpus_per_node, flops, efficiency, memory, hbm_bw, intra_bw, inter_bw)")
        ->check(CLI::ExistingFile);
    app.add_option("--nodes", c.nodes, "Nodes (without --cluster; H100-like defaults otherwise)")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{65536}));
    app.add_option("--gpus-per-node", c.gpus_per_node, "GPUs per node")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1024}));
    app.add_option("--algo", algo, "ppo (actor, critic, ref, reward), remax (no critic, a greedy generation), grpo or rloo (no critic; --batch counts the sampled rows)")
        ->capture_default_str()
        ->check(CLI::IsMember({"ppo", "remax", "grpo", "rloo"}));
    app.add_option("--actor", actor, "Actor (and reference) size: 7b, 13b, 34b, 70b")->capture_default_str();
    app.add_option("--critic", critic, "Critic (and reward) size")->capture_default_str();
    app.add_option("--actor-config", actor_config, "The actor's config.json instead of --actor (a model to run here, e.g. for rl --plan)")->check(CLI::ExistingFile);
    app.add_option("--critic-config", critic_config, "The critic's (reward model's) config.json instead of --critic")->check(CLI::ExistingFile);
    app.add_flag("!--no-ref", with_ref, "No reference model (no KL term): no ref_inf call");
    app.add_option("--batch", batch, "Prompts per iteration")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
    app.add_option("--prompt-len", prompt_len, "Prompt tokens")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
    app.add_option("--gen-len", gen_len, "Generated tokens")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
    app.add_option("--micro-batches", micro_batches, "Pipeline micro-batches per call")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
    app.add_option("--iterations", so.iterations, "MCMC moves")->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{100000000}));
    app.add_option("--temperature", so.temperature, "Metropolis temperature (relative)")->capture_default_str()->check(CLI::Range(1e-9, 1e9));
    app.add_option("--plan", plan_file, "Cost this plan (JSON as written by -o) instead of searching")->check(CLI::ExistingFile);
    app.add_flag("--compare", compare, "Also cost the fixed layout and the heuristic plan");
    app.add_option("--timeline", timeline, "The plan's timeline (SVG)");
    cli::add_output(app, out, "The plan with its predicted times (JSON; its calls can be edited and given back with --plan)");
  }
  nlohmann::json execute(cli::Context& ctx) override {
    if (!cluster_file.empty()) c = pl::cluster_from_json(read_json(cluster_file), cluster_file);
    c.validate();
    const pl::ModelSize a = actor_config.empty() ? pl::model_size(actor) : model_size_of(lm::read_lm_config(actor_config), "actor");
    const pl::ModelSize cr = !critic_config.empty() ? model_size_of(lm::read_lm_config(critic_config), "critic")
                             : actor_config.empty() ? pl::model_size(critic) : a;
    pl::Workload w = pl::rlhf_workload(algo, a, cr, batch, prompt_len, gen_len, with_ref);
    w.micro_batches = micro_batches;
    pl::Plan p;
    nlohmann::json r = {{"cluster", pl::to_json(c)}, {"algo", algo}, {"actor", actor_config.empty() ? actor : actor_config},
                        {"critic", critic_config.empty() ? (actor_config.empty() ? critic : actor_config) : critic_config}, {"batch", batch},
                        {"prompt_len", prompt_len}, {"gen_len", gen_len}, {"simulated", true}};
    if (!plan_file.empty()) {
      const nlohmann::json pj = read_json(plan_file);
      p = pl::plan_from_json(pj.contains("plan") ? pj["plan"] : pj, w, c, plan_file);
    } else {
      pl::SearchResult sr;
      {
        auto timer = ctx.timers.scope("search");
        sr = pl::search(w, c, so, ctx.common.seed);
      }
      p = sr.best;
      r["search"] = {{"iterations", so.iterations}, {"accepted", sr.accepted}};
    }
    const pl::Schedule s = pl::simulate(w, c, p);
    r["plan"] = schedule_json(w, p, s);
    if (compare) {
      const pl::Plan f = pl::fixed_layout(w, c), h = pl::heuristic_plan(w, c), d = pl::deepspeed_chat_layout(w, c);
      const struct {
        const char *key, *speedup;
        const pl::Plan& plan;
      } baselines[] = {{"fixed_layout", "speedup_vs_fixed", f}, {"heuristic", "speedup_vs_heuristic", h}, {"deepspeed_chat", "speedup_vs_deepspeed_chat", d}};
      for (const auto& b : baselines) {
        const pl::Schedule sb = pl::simulate(w, c, b.plan);
        r[b.key] = schedule_json(w, b.plan, sb);
        r[b.speedup] = sb.makespan / s.makespan;
      }
    }
    write_report(out, r);
    if (!timeline.empty())
      write_timeline(timeline, w, p, s, fmt::format("{} {}+{} on {}x{} devices: {:.2f} s per iteration (simulated)", algo, a.name, cr.name, c.nodes,
                                                    c.gpus_per_node, s.makespan));
    return r;
  }
  pl::Cluster c;
  pl::SearchOptions so;
  std::string cluster_file, algo = "ppo", actor = "7b", critic = "7b", actor_config, critic_config, plan_file, timeline, out;
  bool with_ref = true;
  int64_t batch = 512, prompt_len = 256, gen_len = 256, micro_batches = 8;
  bool compare = false;
};
}  // namespace

void add_plan(cli::Tool& tool) { tool.add<PlanCommand>(); }
