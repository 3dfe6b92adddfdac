// ckpt-tool: inspect, convert and compare checkpoints (safetensors, HF folders, paramkit HDF5).
#include "commands.h"

int main(int argc, char** argv) {
  paramkit::cli::Tool tool("ckpt-tool", "Inspect, convert and compare model checkpoints (safetensors, Hugging Face folders, HDF5).");
  tool.alias("--out-shard-size", "--shard-size");
  add_info(tool);
  add_convert(tool);
  add_diff(tool);
  return tool.main(argc, argv);
}
