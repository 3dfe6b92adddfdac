// rlhf-train profile: measures the cost model's inputs on this machine and writes them as a cluster file
// for `plan --cluster`: dense matmul FLOP/s (float32, the sizes of a transformer layer) with many and
// with 8 tokens (how fast small batches run: half_tokens), a real decoder layer decoding one token (its
// cost besides the FLOPs: layer_overhead) and a sampled generation step beyond its layer (step_overhead),
// memory bandwidth (a large copy), and, under `launch` with more than one process, the bandwidth between processes over c10d Gloo (the "intra-node"
// link; there is one node here) and the time of a small all-reduce (latency). Rank 0 writes the file.
#include <fmt/format.h>


#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/clock.h"
#include "paramkit/core/error.h"
#include "paramkit/lm/generate.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/json.h"
#include "paramkit/rlhf/dist.h"
#include "paramkit/rlhf/plan.h"

using namespace paramkit;

namespace {

struct ProfileCommand : cli::Command {
  ProfileCommand()
      : Command("profile", "Measure matmul FLOP/s, memory and inter-process bandwidth here; write them as a cluster file for plan",
                "rlhf-train profile --hidden 512 --tokens 512 -o /tmp/cluster.json") {}
  void add_options(CLI::App& app) override {
    app.add_option("--hidden", hidden, "Hidden size of the timed layer matmuls")->capture_default_str()->check(CLI::Range(int64_t{16}, int64_t{16384}));
    app.add_option("--tokens", tokens, "Tokens per timed matmul")->capture_default_str()->check(CLI::Range(int64_t{16}, int64_t{1} << 20));
    app.add_option("--model-config", model_config, "config.json of the model to plan for: its layer is the one timed (default: a Llama layer of --hidden)")
        ->check(CLI::ExistingFile);
    app.add_option("--memory-gb", memory_gb, "Memory per device to declare (GB)")->capture_default_str()->check(CLI::Range(0.001, 1e6));
    cli::add_output(app, out, "Cluster file (JSON, for plan --cluster)");
  }
  nlohmann::json execute(cli::Context& ctx) override {
    const rlhf::dist::Env env = rlhf::dist::env_from_environment();
    ctx.write_metrics = env.rank == 0;  // one report per job
    torch::NoGradGuard g;
    const torch::Tensor x = torch::randn({tokens, hidden}), w = torch::randn({4 * hidden, hidden});
    double secs = 0;
    {
      auto timer = ctx.timers.scope("matmul");
      secs = best_of(5, [&] { (void)torch::matmul(x, w.t()).sum().item<float>(); });
    }
    const double flops = 2.0 * static_cast<double>(tokens) * static_cast<double>(hidden) * 4.0 * static_cast<double>(hidden) / secs;
    // The rate with few tokens (a decoding step's batch): x / (x + half) of the full rate at x tokens.
    const int64_t few = 8;
    const torch::Tensor xs = torch::randn({few, hidden});
    const double secs_few = best_of(20, [&] { (void)torch::matmul(xs, w.t()).sum().item<float>(); });
    const double flops_few = 2.0 * static_cast<double>(few) * static_cast<double>(hidden) * 4.0 * static_cast<double>(hidden) / secs_few;
    const double half_tokens = std::max(0.0, static_cast<double>(few) * (flops / flops_few - 1));
    // A real decoder layer (of --model-config, else a Llama layer of --hidden) decoding one token: what it
    // costs besides its FLOPs (launch/dispatch of its ~40 operations, the KV cache) is layer_overhead; a
    // whole sampled generation step beyond its layer (sampling, masks, the head) is step_overhead.
    lm::LmConfig lc = model_config.empty() ? lm::LmConfig::llama(256, hidden, 2 * hidden, 1, std::max<int64_t>(1, hidden / 64),
                                                                 std::max<int64_t>(1, hidden / 64), 128)
                                           : lm::read_lm_config(model_config);
    lc.num_layers = 1;
    lc.eos_token_ids.clear();
    lc.max_positions = std::max<int64_t>(lc.max_positions, 64);
    lm::CausalLM one(lc, lm::Head::lm, ctx.common.seed);
    const double H = static_cast<double>(lc.hidden_size), layer_flops = 24 * H * H;  // per token: the cost model's 12 h^2 parameters
    auto decode_step = [&](int64_t b) {
      lm::KvCache cache = one->make_cache(b, 48);
      const torch::Tensor ids = torch::randint(0, lc.vocab_size, {b, 32}, torch::kLong), mask = torch::ones({b, 33}, torch::kLong);
      (void)one->hidden_states(ids, mask.narrow(1, 0, 32), &cache);
      const torch::Tensor next = ids.narrow(1, 31, 1).contiguous();
      return best_of(20, [&] {
        cache.length = 32;
        (void)one->hidden_states(next, mask, &cache).sum().item<float>();
      });
    };
    const double layer_overhead = std::max(0.0, decode_step(1) - layer_flops * (1 + half_tokens) / flops);
    lm::GenerateOptions go;
    go.max_new_tokens = 16;
    go.seed = ctx.common.seed;
    const torch::Tensor pids = torch::randint(0, lc.vocab_size, {8, 16}, torch::kLong), pmask = torch::ones({8, 16}, torch::kLong);
    const double gen = best_of(3, [&] { (void)lm::generate(*one, pids, pmask, go); });
    const double step_overhead = std::max(0.0, gen / static_cast<double>(go.max_new_tokens) - decode_step(8));
    const torch::Tensor big = torch::randn({32 << 20}), dst = torch::empty_like(big);  // 128 MB
    const double copy = best_of(3, [&] { dst.copy_(big); });
    const double mem_bw = 2.0 * static_cast<double>(big.numel()) * 4 / copy;  // read + write
    double link_bw = mem_bw;  // one process: no link to measure
    double latency = 0;
    if (env.world > 1) {
      rlhf::dist::Group grp(env, 60);
      const torch::Tensor buf = torch::zeros({8 << 20});  // 32 MB per rank
      std::vector<torch::Tensor> all;
      grp.barrier();
      const double t = best_of(3, [&] {
        grp.all_gather(buf, all);
        grp.barrier();
      });
      // ring all-gather: each rank receives (world - 1) buffers
      link_bw = static_cast<double>(buf.numel()) * 4 * static_cast<double>(env.world - 1) / t;
      // a small all-reduce (what tensor parallelism does per layer while decoding)
      torch::Tensor one = torch::zeros({64});
      latency = best_of(20, [&] { grp.all_reduce(one); });
    }
    paramkit::rlhf::plan::Cluster c;
    c.nodes = 1;
    c.gpus_per_node = env.world;
    c.flops = flops;
    c.efficiency = 1.0;  // the measured rate is already the achieved one
    c.memory = memory_gb * 1e9;
    c.hbm_bw = mem_bw;
    c.intra_bw = link_bw;
    c.inter_bw = link_bw;
    c.latency = latency;
    c.half_tokens = half_tokens;
    c.layer_overhead = layer_overhead;
    c.step_overhead = step_overhead;
    nlohmann::json r = paramkit::rlhf::plan::to_json(c);
    r["name"] = fmt::format("this machine, {} process(es), {} threads each", env.world, torch::get_num_threads());
    r["measured"] = {{"matmul_gflops", flops / 1e9}, {"matmul_gflops_8_tokens", flops_few / 1e9}, {"copy_gb_s", mem_bw / 1e9},
                     {"link_gb_s", link_bw / 1e9}, {"small_all_reduce_us", latency * 1e6}, {"layer_overhead_us", layer_overhead * 1e6},
                     {"generation_step_overhead_us", step_overhead * 1e6}};
    if (env.rank == 0) write_report(out, r);
    return r;
  }
  int64_t hidden = 512, tokens = 512;
  std::string model_config;
  double memory_gb = 8;
  std::string out;
};
}  // namespace

void add_profile(cli::Tool& tool) { tool.add<ProfileCommand>(); }
