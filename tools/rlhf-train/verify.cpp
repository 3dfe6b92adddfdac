// rlhf-train verify: under `launch` (or torchrun), runs a small randomly initialised GPT-2 or Llama model
// under (pp, tp, dp) layouts across the processes and compares with the same model in one process:
// logits, the loss and every parameter's gradient (each process checks its shards against the direct
// re-shard of the single-process gradients), and greedy and sampled generation (sampled only with one
// replica: several replicas draw their rows' samples separately). Exit 1 when a difference exceeds the
// tolerance. Checks a machine's multi-process setup, and is the test of the parallel execution.
#include <fmt/format.h>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/io/json.h"
#include "paramkit/rlhf/parallel.h"

using namespace paramkit;
namespace ra = paramkit::rlhf::realloc;
namespace par = paramkit::rlhf::parallel;

namespace {
double max_abs(const torch::Tensor& a, const torch::Tensor& b) { return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>(); }

// -sum over rows of the log-likelihood of each next real token, over `batch` rows (a share of it for a subset).
torch::Tensor nll_share(const torch::Tensor& logits, const torch::Tensor& ids, const torch::Tensor& mask, int64_t row0, int64_t batch) {
  const int64_t b = logits.size(0), T = logits.size(1);
  const torch::Tensor tgt = ids.narrow(0, row0, b).narrow(1, 1, T - 1).unsqueeze(-1);
  const torch::Tensor m = mask.narrow(0, row0, b).narrow(1, 1, T - 1).to(torch::kFloat);
  const torch::Tensor lp = torch::log_softmax(logits.narrow(1, 0, T - 1), -1).gather(-1, tgt).squeeze(-1);
  return -(lp * m).sum() / static_cast<double>(batch);
}

struct VerifyCommand : cli::Command {
  VerifyCommand()
      : Command("verify", "Check tensor/pipeline/data-parallel execution across launched processes against one process",
                "rlhf-train verify --all-layouts -o /tmp/verify-1.json") {}
  void add_options(CLI::App& app) override {
    app.add_option("--layout", layout_text, "A layout pp,tp,dp (its ranks at most the processes)");
    app.add_flag("--all-layouts", all_layouts, "Every layout whose product is the number of processes");
    add_tiny_model_flags(app, model);
    app.add_option("--batch", batch, "Rows")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{4096}));
    app.add_option("--seq", seq, "Tokens per row (rows are left-padded by 0..3 tokens)")->capture_default_str()->check(CLI::Range(int64_t{4}, int64_t{64}));
    app.add_option("--new-tokens", new_tokens, "Generated tokens")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{60}));
    app.add_option("--micro-batches", micro, "Pipeline micro-batches")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{4096}));
    app.add_option("--tolerance", tol, "Largest difference accepted (logits, loss, gradients)")->capture_default_str()->check(CLI::Range(0.0, 1.0));
    app.add_option("--timeout", timeout, "Seconds any wait on another process may take")->capture_default_str()->check(CLI::Range(1.0, 86400.0));
    cli::add_output(app, out, "Report (JSON, written by rank 0)");
  }
  nlohmann::json execute(cli::Context& ctx) override {
    const rlhf::dist::Env env = rlhf::dist::env_from_environment();
    ctx.write_metrics = env.rank == 0;  // one report per job
    const lm::LmConfig config = model.config();
    const ra::ModelLayout ml = ra::lm_layout(config, lm::Head::lm);
    std::vector<ra::Layout> layouts;
    if (all_layouts) {
      for (const auto& l : ra::layouts(ml, env.world))
        if (l.dp <= batch) layouts.push_back(l);
    } else if (!layout_text.empty()) {
      layouts.push_back(parse_layout(layout_text, "--layout"));
    } else {
      throw UsageError("verify: give --layout or --all-layouts");
    }
    for (const auto& l : layouts) {
      par::Placement p{par::mesh(0, l.ranks()), l, micro};
      p.validate(config, env.world, fmt::format("--layout {},{},{}", l.pp, l.tp, l.dp));
      if (l.dp > batch) throw UsageError(fmt::format("--layout: dp {} exceeds --batch {}", l.dp, batch));
    }
    rlhf::dist::Group g(env, timeout);
    // The model and data, the same on every process; the single-process results.
    lm::CausalLM ref(config, lm::Head::lm, ctx.common.seed);
    std::map<std::string, torch::Tensor> full;
    for (const auto& kv : ref->named_parameters()) full[kv.key()] = kv.value().detach();
    torch::manual_seed(ctx.common.seed + 1);
    const torch::Tensor ids = torch::randint(1, config.vocab_size, {batch, seq}, torch::kLong);
    torch::Tensor mask = torch::ones({batch, seq}, torch::kLong);
    for (int64_t b = 0; b < batch; ++b) mask[b].narrow(0, 0, b % 4).zero_();
    const torch::Tensor ref_logits = ref->forward(ids, mask).detach();
    torch::Tensor ref_loss = nll_share(ref->forward(ids, mask), ids, mask, 0, batch);
    ref_loss.backward();
    std::map<std::string, torch::Tensor> ref_grads;
    for (const auto& kv : ref->named_parameters()) ref_grads[kv.key()] = kv.value().grad().detach();
    const int64_t P = seq / 2;
    const torch::Tensor pids = ids.narrow(1, 0, P), pmask = mask.narrow(1, 0, P).clone();
    pmask.select(1, P - 1).fill_(1);
    lm::GenerateOptions go;
    go.max_new_tokens = new_tokens;
    go.seed = ctx.common.seed;
    go.eos_ids = {-1 + config.vocab_size};
    go.greedy = true;
    const lm::GenerateResult ref_greedy = lm::generate(*ref, pids, pmask, go);
    go.greedy = false;
    const lm::GenerateResult ref_sampled = lm::generate(*ref, pids, pmask, go);

    nlohmann::json rows = nlohmann::json::array();
    bool ok = true;
    for (const auto& l : layouts) {
      par::ParallelLM pm(g, config, lm::Head::lm, par::Placement{par::mesh(0, l.ranks()), l, micro});
      par::scatter_full(g, full, 0, pm);
      double d_logits = 0, d_loss = 0, d_grad = 0;
      bool greedy_equal = true, sampled_equal = true;
      if (pm.member()) {
        d_logits = max_abs(pm.map_rows(ids, mask, [](const torch::Tensor& out, int64_t) { return out; }), ref_logits);
        const double loss = pm.backward(ids, mask, [&](const torch::Tensor& out, int64_t row0) { return nll_share(out, ids, mask, row0, batch); });
        d_loss = std::abs(loss - ref_loss.item<double>());
        const auto direct = ra::shard(ml, l, ref_grads)[static_cast<size_t>(pm.layout_rank())];
        for (const auto& [name, p] : pm.state()) d_grad = std::max(d_grad, max_abs(p.grad(), direct.at(name)));
        go.greedy = true;
        const lm::GenerateResult gg = pm.generate(pids, pmask, go);
        greedy_equal = torch::equal(gg.sequences, ref_greedy.sequences);
        go.greedy = false;
        const lm::GenerateResult gs = pm.generate(pids, pmask, go);
        sampled_equal = l.dp > 1 || torch::equal(gs.sequences, ref_sampled.sequences);
      }
      // the worst over the processes
      std::vector<torch::Tensor> all;
      g.all_gather(torch::tensor({d_logits, d_loss, d_grad, greedy_equal ? 0.0 : 1.0, sampled_equal ? 0.0 : 1.0}, torch::kFloat64), all);
      torch::Tensor worst = torch::stack(all).amax(0);
      const bool pass = worst[0].item<double>() <= tol && worst[1].item<double>() <= tol && worst[2].item<double>() <= tol &&
                        worst[3].item<double>() == 0 && worst[4].item<double>() == 0;
      ok = ok && pass;
      nlohmann::json row = {{"layout", {{"pp", l.pp}, {"tp", l.tp}, {"dp", l.dp}}},
                            {"logits_max_abs_diff", worst[0].item<double>()},
                            {"loss_abs_diff", worst[1].item<double>()},
                            {"grad_max_abs_diff", worst[2].item<double>()},
                            {"greedy_tokens_equal", worst[3].item<double>() == 0},
                            {"sampled_tokens_equal", l.dp > 1 ? nlohmann::json("n/a (replicas sample their own rows)") : nlohmann::json(worst[4].item<double>() == 0)},
                            {"pass", pass}};
      if (env.rank == 0) log::info("layout pp {} tp {} dp {}: logits {:.2e}, loss {:.2e}, gradients {:.2e}, {}", l.pp, l.tp, l.dp,
                                   worst[0].item<double>(), worst[1].item<double>(), worst[2].item<double>(), pass ? "pass" : "FAIL");
      rows.push_back(row);
    }
    nlohmann::json r = {{"world", env.world}, {"arch", model.arch}, {"layers", model.layers}, {"hidden", model.hidden}, {"heads", model.heads},
                        {"batch", batch}, {"micro_batches", micro}, {"tolerance", tol}, {"layouts", rows}, {"all_pass", ok}};
    if (env.rank == 0) write_report(out, r);
    if (!ok) throw Error("verify: a layout differs from the single-process results beyond --tolerance");
    return r;
  }
  std::string layout_text, out;
  bool all_layouts = false;
  TinyModel model;
  int64_t batch = 6, seq = 12, new_tokens = 8, micro = 2;
  double tol = 1e-4, timeout = 60;
};
}  // namespace

void add_verify(cli::Tool& tool) { tool.add<VerifyCommand>(); }
