// rlhf-train's subcommands, one file each, and the model flags they share.
#pragma once
#include <CLI/CLI.hpp>
#include <cmath>
#include <string>

#include "paramkit/cli/tool.h"
#include "paramkit/lm/model.h"
#include "paramkit/rlhf/data.h"
#include "paramkit/rlhf/plan.h"
#include "paramkit/rlhf/realloc.h"
#include "paramkit/rlhf/rl.h"
#include "paramkit/rlhf/stages.h"

void add_sft(paramkit::cli::Tool& tool);
void add_rm(paramkit::cli::Tool& tool);
void add_rl(paramkit::cli::Tool& tool);
void add_generate(paramkit::cli::Tool& tool);
void add_score(paramkit::cli::Tool& tool);
void add_plan(paramkit::cli::Tool& tool);
void add_launch(paramkit::cli::Tool& tool);
void add_realloc(paramkit::cli::Tool& tool);
void add_profile(paramkit::cli::Tool& tool);
void add_verify(paramkit::cli::Tool& tool);

// --model DIR | --model-config config.json, --tokenizer.
void add_model_flags(CLI::App& app, paramkit::rlhf::ModelSource& s, const std::string& what);
// --prompt-key, --response-key, --chosen-key, --rejected-key, --answer-key (those `which` names).
void add_key_flags(CLI::App& app, paramkit::rlhf::JsonlKeys& k, const std::string& which);
// A small randomly initialised model for the multi-process checks (--arch, --layers, --hidden, --heads,
// --kv-heads, --vocab).
struct TinyModel {
  std::string arch = "llama";
  int64_t layers = 4, hidden = 64, heads = 4, kv_heads = 4, vocab = 256;
  paramkit::lm::LmConfig config() const;
};
void add_tiny_model_flags(CLI::App& app, TinyModel& m);
// "pp,tp,dp" -> a layout (UsageError naming the flag).
paramkit::rlhf::realloc::Layout parse_layout(const std::string& text, const std::string& flag);

// The cost model's size of a model read from its config.json.
paramkit::rlhf::plan::ModelSize model_size_of(const paramkit::lm::LmConfig& c, const std::string& name);

// rl --plan: ReMax or PPO under an execution plan across launched processes (rl_plan.cpp).
struct PlannedRun {
  paramkit::rlhf::ModelSource source;
  std::string ref_dir, critic_dir, reward_spec, prompts_path, plan_file, cluster_file, report, timeline, out, eval_path, eval_reward_spec;
  paramkit::rlhf::JsonlKeys keys;
  paramkit::rlhf::RlOptions o;
  double timeout = 120;
};
struct PlannedOutcome {
  int64_t iterations = 0;
  bool finished = false;
  std::vector<nlohmann::json> history;
  nlohmann::json report;  // rank 0: predicted vs measured per call
  double eval_initial = NAN, eval_final = NAN, eval_sampled_initial = NAN, eval_sampled_final = NAN;  // rank 0, with eval prompts
};
PlannedOutcome run_planned(const PlannedRun& r, paramkit::cli::Context& ctx);

// --max-length for the supervised stages.
void add_supervised_flags(CLI::App& app, paramkit::rlhf::SftOptions& o);
