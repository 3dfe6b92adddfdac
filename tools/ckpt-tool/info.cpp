// ckpt-tool info: tensors (dtype, shape, bytes), metadata and provenance of a checkpoint.
#include <iostream>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/io/ckpt_ops.h"

using namespace paramkit;

namespace {
struct InfoResult {
  size_t tensor_count = 0;
  uint64_t total_bytes = 0;
  int64_t parameters = 0;
};
void to_json(nlohmann::json& j, const InfoResult& r) {
  j = {{"tensor_count", r.tensor_count}, {"total_bytes", r.total_bytes}, {"parameters", r.parameters}};
}

struct InfoCommand : cli::TypedCommand<InfoResult> {
  InfoCommand()
      : TypedCommand("info", "List tensors (dtype, shape, bytes), metadata and provenance",
                     "ckpt-tool info tests/data/tiny-model.safetensors") {}
  void add_options(CLI::App& app) override {
    app.add_option("path", path, "safetensors file, HF folder or .h5 file")->required();
    cli::add_print(app, print, /*with_table=*/false);
  }
  InfoResult run(cli::Context&) override {
    auto reader = open_tensors(path);
    const nlohmann::json d = describe_store(*reader);
    std::cout << (print.json ? d.dump(2) + "\n" : format_description(d));
    return {d["tensor_count"].get<size_t>(), d["total_bytes"].get<uint64_t>(), d["parameters"].get<int64_t>()};
  }
  std::string path;
  cli::PrintOptions print;
};
}  // namespace

void add_info(cli::Tool& tool) { tool.add<InfoCommand>(); }
