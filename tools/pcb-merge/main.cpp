// pcb-merge: merge fine-tuned models of one base with PCB-Merging or mergekit's methods.
#include "commands.h"
#include "paramkit/core/memory.h"
#include "paramkit/torch/runtime.h"

int main(int argc, char** argv) {
  paramkit::reuse_freed_memory();
  paramkit::cli::Tool tool("pcb-merge",
                           "Merge fine-tuned models of one base model: PCB-Merging (parameter competition balancing) or "
                           "linear, task_arithmetic, ties, dare_linear, dare_ties, breadcrumbs, breadcrumbs_ties, della, della_linear, slerp, "
                           "model_stock.");
  tool.alias("--out", "--output");
  tool.alias("--out-shard-size", "--shard-size");
  tool.set_runtime([](const paramkit::cli::CommonOptions& c) { paramkit::start_torch(c.seed, c.threads, c.device); });
  add_merge(tool);
  return tool.main(argc, argv);
}
