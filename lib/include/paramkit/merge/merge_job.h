// A whole merge: inputs (HF folders, .safetensors, .h5), a plan checked before any work (shapes,
// missing tensors, dtypes), streaming per-tensor merging into the base model's layout, global or
// per-tensor PCB statistics, and mergekit-style merge configs.
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "paramkit/io/dtype.h"
#include "paramkit/merge/methods.h"

namespace paramkit::merge {

struct MergeJob {
  std::string base;                 // required except for linear
  std::vector<std::string> models;  // fine-tuned models
  std::vector<ModelParams> params;  // one per model
  MethodOptions method;
  std::string pcb_scope = "global";  // global (the paper) or per-tensor
  std::filesystem::path out;
  std::optional<DType> dtype;        // output dtype of floating tensors (default: the base's)
  uint64_t out_shard_size = 0;       // folder outputs (0: 5 GB)
  uint64_t seed = 0;
  bool allow_missing = false;
  // Tensor-name patterns (* any run of characters, ? one character) kept as the base's, not merged:
  // e.g. per-task heads ("head.*"), which the models may lack or have in other shapes.
  std::vector<std::string> exclude;
  // Global PCB keeps the task vectors (n d floats) in memory when they fit; else it reads the inputs
  // once per pass.
  uint64_t memory_budget = 4ull << 30;
  // Tensors merged at once (0: LibTorch's thread count). Several at once run LibTorch single-threaded
  // inside each; peak memory grows with the count (a few tensors each).
  int threads = 0;
  std::string device = "cpu";  // cpu, cuda, cuda:N: where tensors are merged (one at a time on a GPU)
};

// Reads a mergekit-style config (JSON object: merge_method, base_model, models[].model,
// models[].parameters{weight,density,gamma,epsilon}, parameters{normalize,rescale,int8_mask,lambda,t,...},
// dtype) into `job` with mergekit's precedence: a model's own parameters over the top-level ones; the
// base listed among the models is skipped as a task (averaged like the others by linear). `keep`:
// settings the command line gave, which the config does not override ("method", "base", "t",
// "pcb_ratio", "pcb_variant", "pcb_scope"; "models" with a config that lists models: UsageError).
// `source` names the file in errors (InputError naming the field).
void apply_merge_config(const nlohmann::json& config, const std::string& source, MergeJob& job,
                        const std::set<std::string>& keep = {});

// Before any work: an output path that can be written as the merge's output. UsageError (naming
// `what`, e.g. the flag) for a folder that exists and holds something other than a model, or a file
// where a folder output is asked for.
void check_output(const std::filesystem::path& out, const std::string& what);

// Removes lambda-search candidates (.pcb-merge-candidate-PID*, and their writers' temps) left in
// `dir` by processes that no longer run (a search killed by SIGKILL). run_merge calls it for its
// output's folder, so the next merge or search there cleans up.
void remove_stale_candidates(const std::filesystem::path& dir);

// What a merge did.
struct MergeResult {
  std::string method;
  size_t tensors = 0;       // output tensors
  int64_t merged = 0;       // tensors merged from the models
  size_t copied = 0;        // tensors copied from the base unchanged (non-floating, in no model, or excluded)
  size_t excluded = 0;      // tensors of the base matching --exclude (counted in copied too)
  int merge_threads = 1;    // tensors merged at once
  int missing_pairs = 0;    // (model, tensor) pairs absent (--allow-missing)
  std::vector<std::string> copied_files;  // side files of an HF folder base (config.json, tokenizer...)
  std::string pcb_scope;       // pcb: global or per-tensor; else empty
  std::string pcb_statistics;  // global pcb: in-memory or streaming; else empty
};
// {"method","tensors","merged","copied","excluded","merge_threads","missing_pairs","copied_files","pcb_scope",
// "pcb_statistics"} (--metrics results).
void to_json(nlohmann::json& j, const MergeResult& r);

// Whether a tensor name matches a pattern of --exclude: * matches any run of characters (dots too),
// ? one character, anything else itself.
bool name_matches(const std::string& pattern, const std::string& name);

// Runs the merge. InputError (exit 2) for mismatched inputs, found before anything is written.
MergeResult run_merge(const MergeJob& job);

}  // namespace paramkit::merge
