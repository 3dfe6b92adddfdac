// pcb-merge's flags -> merge::MergeJob and merge::SearchOptions.
#include "options.h"

#include <cstdio>
#include <filesystem>
#include <set>

#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/io/json.h"
#include "paramkit/io/tensor_store.h"
#include "paramkit/io/yaml_lite.h"

using namespace paramkit;

namespace {
std::string short_num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.6g", v);
  return b;
}
// A flag's value in [lo, hi] (open ends where asked); UsageError naming the flag. Non-finite values
// never get here (the Tool refuses them by name).
void check_range(double v, const std::string& flag, double lo, double hi, bool lo_open = false, bool hi_open = false) {
  const bool ok = (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
  if (!ok)
    throw UsageError(flag + ": " + short_num(v) + " is out of range; expected " + (lo_open ? "(" : "[") + short_num(lo) + ", " +
                     short_num(hi) + (hi_open ? ")" : "]"));
}
const std::string kScaleRange = "finite, magnitude at most 1e4";
}  // namespace

void MergeFlags::add_options(CLI::App& app) {
  merge::MergeJob& j = direct;
  app.add_option("--merge-config", merge_config,
                 "mergekit-style merge config (.yaml/.yml or .json): merge_method, base_model, models, parameters, dtype. "
                 "Flags given on the command line win over its values; --models and its models exclude each other");
  base_flag = app.add_option("--base", j.base, "Base (pre-trained) model: HF folder, .safetensors or .h5");
  models_flag = app.add_option("--models", j.models, "Fine-tuned models");
  method_flag = app.add_option("--method", j.method.method, "Merge method")->capture_default_str();
  cli::add_output(app, output, "Output: a folder (HF layout; new, empty or a previous output), .safetensors or .h5");
  app.add_option("--weight", weights, "Per-model weights (one value for all, or one per model; " + kScaleRange + ")");
  app.add_option("--density", densities, "Per-model density (ties/dare/breadcrumbs/della), in (0, 1]");
  gamma_flag = app.add_option("--gamma", gamma, "breadcrumbs: fraction of largest magnitudes removed, in [0, 1)")->capture_default_str();
  epsilon_flag = app.add_option("--epsilon", epsilon, "della: half-width of the keep-probability range, in [0, 1)")->capture_default_str();
  app.add_option("--lambda", lambdas, "Scale of the merged task vector; for pcb one per model allowed (" + kScaleRange + ")")
      ->capture_default_str();
  app.add_flag("--normalize", normalize, "Divide by the sum of weights (overrides the method's default)");
  app.add_flag("--no-normalize", no_normalize, "Do not divide by the sum of weights");
  app.add_flag("--rescale", rescale, "Rescale sparsified task vectors to their L1 norm");
  app.add_flag("--no-rescale", no_rescale, "Do not rescale sparsified task vectors");
  t_flag = app.add_option("--t", j.method.t, "slerp: interpolation factor in [0, 1] (0: base, 1: the other model)")->capture_default_str();
  ratio_flag = app.add_option("--pcb-ratio", j.method.pcb.ratio, "pcb: keep ratio r of the drop step, in (0, 1]")->capture_default_str();
  variant_flag = app.add_option("--pcb-variant", j.method.pcb.variant, "pcb: inter-balancing raw, pcbpy or es")->capture_default_str();
  clamp_flag = app.add_option("--pcb-clamp", j.method.pcb.clamp_lo, "pcb: outlier clamp quantile q in [0, 0.5) (both tails; 0 turns clamping off)")
                   ->capture_default_str();
  scope_flag = app.add_option("--pcb-scope", j.pcb_scope, "pcb: statistics over all parameters (global) or per tensor")->capture_default_str();
  app.add_option("--search", search.kind, "Lambda search: none, grid (one global lambda) or random (per-model lambdas)")
      ->capture_default_str()
      ->check(CLI::IsMember({"none", "grid", "random"}));
  app.add_option("--eval-cmd", search.eval_cmd,
                 "Scores a candidate merge: a shell command, {model} is its path; prints a number (higher is better). "
                 "SIGINT/SIGTERM end it with its process group");
  app.add_option("--lambda-grid", lambda_grid,
                 "grid search values: START:STOP:STEP or a comma list (default 0.8:2.2:0.1; at most " +
                     std::to_string(merge::kMaxCandidates) + " values, each " + kScaleRange + ")");
  budget_flag = app.add_option("--search-budget", search.budget,
                               "random search: number of candidates, 1 to " + std::to_string(merge::kMaxCandidates))
                    ->capture_default_str();
  app.add_option("--lambda-range", lambda_range, "random search: LO HI of per-model lambdas (default 0.8 1.3; " + kScaleRange + ")")
      ->expected(2);
  app.add_option("--memory-budget", memory_budget, "Global PCB: keep task vectors in memory up to this size, else stream (default 4GiB)");
  app.add_flag("--allow-missing", j.allow_missing, "Merge tensors some models lack from the models that have them");
  app.add_option("--exclude", j.exclude,
                 "Tensors kept as the base's, not merged: name patterns (* any characters, ? one), e.g. 'head.*' for "
                 "per-task heads, which the models may lack or have in other shapes");
  cli::add_dtype(app, dtype, "Output dtype of floating tensors: F32, F16, BF16 (default: the base's)", {DType::F32, DType::F16, DType::BF16});
  cli::add_shard_size(app, shard_size);
}

merge::MergeJob MergeFlags::make_job(const cli::CommonOptions& common) const {
  // Every flag's range first (before the config is even read), naming the flag.
  for (double w : weights) check_range(w, "--weight", -merge::kMaxScale, merge::kMaxScale);
  for (double l : lambdas) check_range(l, "--lambda", -merge::kMaxScale, merge::kMaxScale);
  for (double d : densities) check_range(d, "--density", 0, 1, true, false);
  if (gamma_flag->count()) check_range(gamma, "--gamma", 0, 1, false, true);
  if (epsilon_flag->count()) check_range(epsilon, "--epsilon", 0, 1, false, true);
  if (t_flag->count()) check_range(direct.method.t, "--t", 0, 1);
  if (ratio_flag->count()) check_range(direct.method.pcb.ratio, "--pcb-ratio", 0, 1, true, false);
  if (clamp_flag->count()) check_range(direct.method.pcb.clamp_lo, "--pcb-clamp", 0, 0.5, false, true);
  merge::check_output(output, "-o/--output");

  merge::MergeJob job = direct;
  job.out = output;
  if (!merge_config.empty()) {
    std::set<std::string> keep;
    if (method_flag->count()) keep.insert("method");
    if (base_flag->count()) keep.insert("base");
    if (models_flag->count()) keep.insert("models");
    if (t_flag->count()) keep.insert("t");
    if (ratio_flag->count()) keep.insert("pcb_ratio");
    if (variant_flag->count()) keep.insert("pcb_variant");
    if (scope_flag->count()) keep.insert("pcb_scope");
    try {
      const std::string ext = std::filesystem::path(merge_config).extension().string();
      nlohmann::json cfg = (ext == ".yaml" || ext == ".yml") ? parse_yaml_lite(read_file(merge_config), merge_config)
                                                             : read_json(merge_config);
      merge::apply_merge_config(cfg, merge_config, job, keep);
    } catch (const nlohmann::json::exception& e) {
      throw InputError(merge_config, "", e.what());
    }
  }
  const size_t n = job.models.size();
  if (n == 0) throw UsageError("no fine-tuned models: give --models or a --merge-config with models");
  if (job.params.size() != n) job.params.assign(n, merge::ModelParams{});
  // One value for every model, or one per model.
  auto spread = [&](const std::vector<double>& v, const char* flag, auto set) {
    if (v.empty()) return;
    if (v.size() != 1 && v.size() != n)
      throw UsageError(std::string(flag) + ": give one value or one per model (" + std::to_string(n) + ")");
    for (size_t i = 0; i < n; ++i) set(job.params[i], v.size() == 1 ? v[0] : v[i]);
  };
  spread(weights, "--weight", [](merge::ModelParams& p, double x) { p.weight = x; });
  spread(densities, "--density", [](merge::ModelParams& p, double x) { p.density = x; });
  if (gamma_flag->count()) for (auto& p : job.params) p.gamma = gamma;
  if (epsilon_flag->count()) for (auto& p : job.params) p.epsilon = epsilon;
  if (lambdas.size() == 1) {
    job.method.lambda = job.method.pcb.lambda = lambdas[0];
    job.method.pcb.lambdas.clear();  // the flag wins over a config's per-model lambdas too
  } else if (lambdas.size() == n && job.method.method == "pcb") {
    job.method.pcb.lambdas = lambdas;
  } else if (!lambdas.empty()) {
    throw UsageError("--lambda: one value, or one per model for pcb");
  }
  if (normalize && no_normalize) throw UsageError("--normalize and --no-normalize exclude each other");
  if (rescale && no_rescale) throw UsageError("--rescale and --no-rescale exclude each other");
  if (normalize || no_normalize) job.method.normalize = normalize;
  if (rescale || no_rescale) job.method.rescale = rescale;
  if (clamp_flag->count()) {
    job.method.pcb.clamp = job.method.pcb.clamp_lo > 0;
    job.method.pcb.clamp_hi = job.method.pcb.clamp_lo;
  }
  if (dtype) job.dtype = dtype;
  if (!memory_budget.empty()) job.memory_budget = memory_budget == "0" ? 0 : parse_size(memory_budget, "--memory-budget");
  if (shard_size > 0) job.out_shard_size = shard_size;
  job.seed = common.seed;
  job.threads = common.threads;
  job.device = common.device;
  return job;
}

merge::SearchOptions MergeFlags::make_search() const {
  merge::SearchOptions s = search;
  if (budget_flag->count()) check_range(s.budget, "--search-budget", 1, merge::kMaxCandidates);
  if (!lambda_grid.empty()) s.grid = merge::parse_grid(lambda_grid);
  if (lambda_range.size() == 2) {
    check_range(lambda_range[0], "--lambda-range", -merge::kMaxScale, merge::kMaxScale);
    check_range(lambda_range[1], "--lambda-range", -merge::kMaxScale, merge::kMaxScale);
    if (!(lambda_range[0] < lambda_range[1])) throw UsageError("--lambda-range: LO must be below HI");
    s.lo = lambda_range[0];
    s.hi = lambda_range[1];
  }
  if (s.kind == "none" && !s.eval_cmd.empty()) throw UsageError("--eval-cmd needs --search grid or random");
  return s;
}
