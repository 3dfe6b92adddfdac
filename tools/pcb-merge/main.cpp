// pcb-merge: merge fine-tuned models of one base with PCB-Merging or mergekit's methods.
#include <iostream>

#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/run.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/io/json.h"
#include "paramkit/io/yaml_lite.h"
#include "paramkit/io/tensor_store.h"
#include "paramkit/merge/merge_job.h"
#include "paramkit/merge/search.h"

using namespace paramkit;

int main(int argc, char** argv) {
  reuse_freed_memory();
  Tool tool("pcb-merge",
            "Merge fine-tuned models of one base model: PCB-Merging (parameter competition balancing) or "
            "linear, task_arithmetic, ties, dare_linear, dare_ties, breadcrumbs, della, slerp, model_stock.",
            "pcb-merge --base base.safetensors --models a.safetensors b.safetensors --method pcb --pcb-ratio 0.1 "
            "--lambda 1.2 --out merged.safetensors");
  CLI::App& app = tool.app();
  merge::MergeJob job;
  std::string merge_config, dtype_s, shard_size;
  std::vector<double> weights, densities, lambdas;
  double gamma = 0.01, epsilon = 0.15;
  bool normalize = false, no_normalize = false, rescale = false, no_rescale = false;
  merge::SearchOptions search;
  std::string grid_s;
  std::vector<double> lambda_range;
  app.add_option("--merge-config", merge_config, "mergekit-style merge config (.yaml/.yml or .json): merge_method, base_model, models, parameters, dtype");
  app.add_option("--base", job.base, "Base (pre-trained) model: HF folder, .safetensors or .h5");
  app.add_option("--models", job.models, "Fine-tuned models");
  app.add_option("--method", job.method.method, "Merge method")->capture_default_str();
  app.add_option("--out", job.out, "Output: a folder (HF layout), .safetensors or .h5")->required();
  app.add_option("--weight", weights, "Per-model weights (one value for all, or one per model)");
  app.add_option("--density", densities, "Per-model density (ties/dare/breadcrumbs/della), in (0, 1]");
  app.add_option("--gamma", gamma, "breadcrumbs: fraction of largest magnitudes removed")->capture_default_str();
  app.add_option("--epsilon", epsilon, "della: half-width of the keep-probability range")->capture_default_str();
  app.add_option("--lambda", lambdas, "Scale of the merged task vector; for pcb one per model allowed")->capture_default_str();
  app.add_flag("--normalize", normalize, "Divide by the sum of weights (overrides the method's default)");
  app.add_flag("--no-normalize", no_normalize, "Do not divide by the sum of weights");
  app.add_flag("--rescale", rescale, "Rescale sparsified task vectors to their L1 norm");
  app.add_flag("--no-rescale", no_rescale, "Do not rescale sparsified task vectors");
  app.add_option("--t", job.method.t, "slerp: interpolation factor (0: base, 1: the other model)")->capture_default_str();
  app.add_option("--pcb-ratio", job.method.pcb.ratio, "pcb: keep ratio r of the drop step")->capture_default_str();
  app.add_option("--pcb-variant", job.method.pcb.variant, "pcb: inter-balancing raw, pcbpy or es")->capture_default_str();
  app.add_option("--pcb-clamp", job.method.pcb.clamp_lo, "pcb: outlier clamp quantile q (both tails; 0 turns clamping off)")->capture_default_str();
  app.add_option("--pcb-scope", job.pcb_scope, "pcb: statistics over all parameters (global) or per tensor")->capture_default_str();
  app.add_option("--search", search.kind, "Lambda search: none, grid (one global lambda) or random (per-model lambdas)")
      ->capture_default_str()->check(CLI::IsMember({"none", "grid", "random"}));
  app.add_option("--eval-cmd", search.eval_cmd, "Scores a candidate merge: a shell command, {model} is its path; prints a number (higher is better)");
  app.add_option("--lambda-grid", grid_s, "grid search values: START:STOP:STEP or a comma list (default 0.8:2.2:0.1)");
  app.add_option("--search-budget", search.budget, "random search: number of candidates")->capture_default_str();
  app.add_option("--lambda-range", lambda_range, "random search: LO HI of per-model lambdas (default 0.8 1.3)")->expected(2);
  std::string budget_s;
  app.add_option("--memory-budget", budget_s, "Global PCB: keep task vectors in memory up to this size, else stream (default 4GiB)");
  app.add_flag("--allow-missing", job.allow_missing, "Merge tensors some models lack from the models that have them");
  app.add_option("--dtype", dtype_s, "Output dtype of floating tensors: F32, F16, BF16 (default: the base's)");
  app.add_option("--out-shard-size", shard_size, "Max bytes per shard for folder outputs (e.g. 2GB; default 5GB)");

  return tool.run(argc, argv, [&](RunContext& ctx) -> int {
    if (!merge_config.empty()) {
      try {
        const std::string ext = std::filesystem::path(merge_config).extension().string();
        nlohmann::json cfg = (ext == ".yaml" || ext == ".yml") ? parse_yaml_lite(read_file(merge_config), merge_config)
                                                               : read_json(merge_config);
        merge::apply_merge_config(cfg, merge_config, job);
      } catch (const nlohmann::json::exception& e) {
        throw InputError(merge_config, "", e.what());
      }
    }
    const size_t n = job.models.size();
    if (n == 0) throw UsageError("no fine-tuned models: give --models or a --merge-config with models");
    if (job.params.size() != n) job.params.assign(n, merge::ModelParams{});
    auto spread = [&](const std::vector<double>& v, const char* flag, auto set) {
      if (v.empty()) return;
      if (v.size() != 1 && v.size() != n)
        throw UsageError(std::string(flag) + ": give one value or one per model (" + std::to_string(n) + ")");
      for (size_t i = 0; i < n; ++i) set(job.params[i], v.size() == 1 ? v[0] : v[i]);
    };
    spread(weights, "--weight", [](merge::ModelParams& p, double x) { p.weight = x; });
    spread(densities, "--density", [](merge::ModelParams& p, double x) { p.density = x; });
    if (app.get_option("--gamma")->count()) for (auto& p : job.params) p.gamma = gamma;
    if (app.get_option("--epsilon")->count()) for (auto& p : job.params) p.epsilon = epsilon;
    if (lambdas.size() == 1) job.method.lambda = job.method.pcb.lambda = lambdas[0];
    else if (lambdas.size() == n && job.method.method == "pcb") job.method.pcb.lambdas = lambdas;
    else if (!lambdas.empty()) throw UsageError("--lambda: one value, or one per model for pcb");
    if (normalize && no_normalize) throw UsageError("--normalize and --no-normalize exclude each other");
    if (rescale && no_rescale) throw UsageError("--rescale and --no-rescale exclude each other");
    if (normalize || no_normalize) job.method.normalize = normalize;
    if (rescale || no_rescale) job.method.rescale = rescale;
    if (app.get_option("--pcb-clamp")->count()) {
      job.method.pcb.clamp = job.method.pcb.clamp_lo > 0;
      job.method.pcb.clamp_hi = job.method.pcb.clamp_lo;
    }
    if (!dtype_s.empty()) {
      auto d = parse_dtype(dtype_s);
      if (!d || (*d != DType::F32 && *d != DType::F16 && *d != DType::BF16))
        throw UsageError("--dtype: expected F32, F16 or BF16, got '" + dtype_s + "'");
      job.dtype = d;
    }
    if (!budget_s.empty()) job.memory_budget = budget_s == "0" ? 0 : parse_size(budget_s, "--memory-budget");
    if (!shard_size.empty()) job.out_shard_size = parse_size(shard_size, "--out-shard-size");
    job.seed = ctx.common.seed;
    job.threads = ctx.common.threads;
    job.device = ctx.common.device;
    if (!grid_s.empty()) search.grid = merge::parse_grid(grid_s);
    if (lambda_range.size() == 2) {
      search.lo = lambda_range[0];
      search.hi = lambda_range[1];
    }
    if (search.kind == "none" && !search.eval_cmd.empty()) throw UsageError("--eval-cmd needs --search grid or random");
    ctx.results = search.kind == "none" ? merge::run_merge(job) : merge::search_lambda(job, search);
    log::info("wrote {} ({} tensors merged, {} copied)", job.out.string(), ctx.results["merged"].get<int64_t>(),
              ctx.results["copied"].get<size_t>());
    return 0;
  });
}
