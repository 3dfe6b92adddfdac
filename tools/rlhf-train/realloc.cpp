// rlhf-train realloc: under `launch` (or torchrun), reallocates a transformer's parameters between
// (pp, tp, dp) layouts across the processes over c10d Gloo, checks every rank's result against the direct
// re-shard of the full state dict bit for bit (a randomly initialised GPT-2 or Llama model: fused qkv split by blocks,
// a tied embedding on the first and last stage), and times it against an all-gather of the same bytes.
// --all-pairs: every pair of layouts of the world size. Without the rendezvous variables: one process.
#include <fmt/format.h>

#include <cstdlib>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/clock.h"
#include "paramkit/core/error.h"
#include "paramkit/io/json.h"
#include "paramkit/rlhf/dist.h"

using namespace paramkit;
namespace ra = paramkit::rlhf::realloc;

namespace {

struct ReallocCommand : cli::Command {
  ReallocCommand()
      : Command("realloc", "Reallocate a transformer's parameters between layouts across launched processes; check and time it",
                "rlhf-train realloc --all-pairs -o /tmp/realloc-1.json") {}
  void add_options(CLI::App& app) override {
    app.add_option("--from", from_text, "Source layout pp,tp,dp");
    app.add_option("--to", to_text, "Destination layout pp,tp,dp");
    app.add_flag("--all-pairs", all_pairs, "Every pair of layouts whose product is the world size");
    add_tiny_model_flags(app, model);
    app.add_option("--timeout", timeout, "Seconds any wait on another process may take")->capture_default_str()->check(CLI::Range(1.0, 86400.0));
    cli::add_output(app, out, "Report (JSON, written by rank 0)");
  }
  nlohmann::json execute(cli::Context& ctx) override {
    const rlhf::dist::Env env = rlhf::dist::env_from_environment();
    ctx.write_metrics = env.rank == 0;  // one report per job
    const lm::LmConfig config = model.config();
    const ra::ModelLayout m = ra::lm_layout(config, lm::Head::lm);
    std::vector<std::pair<ra::Layout, ra::Layout>> pairs;
    if (all_pairs) {
      const std::vector<ra::Layout> ls = ra::layouts(m, env.world);
      for (const auto& a : ls)
        for (const auto& b : ls) pairs.push_back({a, b});
    } else {
      if (from_text.empty() || to_text.empty()) throw UsageError("realloc: give --from and --to, or --all-pairs");
      pairs.push_back({parse_layout(from_text, "--from"), parse_layout(to_text, "--to")});
    }
    for (const auto& [a, b] : pairs) {
      ra::validate(m, a);
      ra::validate(m, b);
      if (a.ranks() > env.world || b.ranks() > env.world)
        throw UsageError(fmt::format("realloc: a layout of {} ranks needs at least as many processes (WORLD_SIZE {})", std::max(a.ranks(), b.ranks()), env.world));
    }
    rlhf::dist::Group g(env, timeout);
    if (const char* die = std::getenv("PARAMKIT_TEST_DIE_RANK"); die && std::atoll(die) == env.rank) std::abort();  // tests: a killed process
    std::map<std::string, torch::Tensor> full;
    for (const auto& kv : lm::CausalLM(config, lm::Head::lm, ctx.common.seed)->named_parameters()) full[kv.key()] = kv.value().detach();
    std::vector<int64_t> devices(static_cast<size_t>(env.world));
    for (int64_t r = 0; r < env.world; ++r) devices[static_cast<size_t>(r)] = r;
    nlohmann::json rows = nlohmann::json::array();
    int64_t mismatches_total = 0;
    for (const auto& [a, b] : pairs) {
      const ra::TransferPlan plan = ra::plan_transfer(m, a, b, std::vector<int64_t>(devices.begin(), devices.begin() + a.ranks()),
                                                      std::vector<int64_t>(devices.begin(), devices.begin() + b.ranks()));
      const ra::Shards src = ra::shard(m, a, full), direct = ra::shard(m, b, full);
      const auto mine = env.rank < a.ranks() ? src[static_cast<size_t>(env.rank)] : ra::Shards::value_type{};
      g.barrier();
      const double t0 = monotonic_seconds();
      const auto got = rlhf::dist::execute(g, m, a, b, plan, mine);
      g.barrier();
      const double secs = monotonic_seconds() - t0;
      int64_t mismatch = 0;
      if (env.rank < b.ranks())
        for (const auto& [name, t] : direct[static_cast<size_t>(env.rank)]) mismatch += torch::equal(got.at(name), t) ? 0 : 1;
      std::vector<torch::Tensor> all;
      g.all_gather(torch::tensor({static_cast<double>(mismatch)}, torch::kFloat64), all);
      int64_t total = 0;
      for (const auto& x : all) total += static_cast<int64_t>(x.item<double>());
      mismatches_total += total;
      // The baseline: an all-gather moving the same bytes (each rank contributes bytes / world).
      const int64_t per_rank = std::max<int64_t>(1, (plan.bytes - plan.local_bytes) / 4 / env.world);
      g.barrier();
      const double t1 = monotonic_seconds();
      g.all_gather(torch::zeros({per_rank}), all);
      g.barrier();
      const double gather_secs = monotonic_seconds() - t1;
      rows.push_back({{"from", {a.pp, a.tp, a.dp}}, {"to", {b.pp, b.tp, b.dp}}, {"bytes", plan.bytes}, {"moved_bytes", plan.bytes - plan.local_bytes},
                      {"pieces", plan.pieces.size()}, {"exact", total == 0}, {"seconds", secs}, {"all_gather_seconds", gather_secs}});
    }
    nlohmann::json r = {{"world", env.world}, {"arch", model.arch}, {"layers", model.layers}, {"hidden", model.hidden}, {"pairs", rows}, {"all_exact", mismatches_total == 0}};
    if (env.rank == 0) write_report(out, r);
    if (mismatches_total) throw Error(fmt::format("realloc: {} shards differ from the direct re-shard", mismatches_total));
    return r;
  }
  std::string from_text, to_text, out;
  bool all_pairs = false;
  TinyModel model;
  double timeout = 60;
};
}  // namespace

void add_realloc(cli::Tool& tool) { tool.add<ReallocCommand>(); }
