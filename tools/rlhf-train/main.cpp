// rlhf-train: RLHF for causal language models from the shell: SFT, reward models, and RL fine-tuning
// with ReMax, PPO, GRPO and RLOO; generate and score with a policy or reward model alone.
#include "commands.h"
#include "paramkit/torch/runtime.h"

int main(int argc, char** argv) {
  paramkit::cli::Tool tool("rlhf-train",
                           "RLHF for GPT-2- and Llama-style causal LMs in Hugging Face folders: SFT, reward models, ReMax/PPO/GRPO/RLOO, "
                           "generation and scoring, resumable, with JSON Lines metrics.");
  tool.set_runtime([](const paramkit::cli::CommonOptions& c) { paramkit::start_torch(c.seed, c.threads, c.device); });
  add_sft(tool);
  add_rm(tool);
  add_rl(tool);
  add_generate(tool);
  add_score(tool);
  add_plan(tool);
  add_launch(tool);
  add_realloc(tool);
  add_profile(tool);
  add_verify(tool);
  return tool.main(argc, argv);
}
