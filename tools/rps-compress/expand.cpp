// rps-compress expand: a compressed model (train --save: seed + z + the dense biases) to a dense
// safetensors checkpoint under the library model's tensor names.
#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/compress/rps.h"
#include "paramkit/core/provenance.h"
#include "paramkit/core/signals.h"
#include "paramkit/torch/state_dict.h"

using namespace paramkit;

namespace {
struct ExpandResult {
  nlohmann::json model;
  int64_t parameters = 0;
};
void to_json(nlohmann::json& j, const ExpandResult& r) { j = {{"model", r.model}, {"parameters", r.parameters}}; }

struct ExpandCommand : cli::TypedCommand<ExpandResult> {
  ExpandCommand()
      : TypedCommand("expand", "A compressed model (train --save) back to dense weights W = scale G z[IDX], as a safetensors checkpoint",
                     "rps-compress expand tests/data/rps/mlp-rps.safetensors -o /tmp/rps-dense.safetensors") {}
  void add_options(CLI::App& app) override {
    app.add_option("compressed", compressed, "The compressed model (rps-compress train --save)")->required()->check(CLI::ExistingFile);
    cli::add_output(app, out, "Dense weights (safetensors)");
  }
  ExpandResult run(cli::Context&) override {
    nn::ModelSpec spec;
    std::function<torch::Tensor(torch::Tensor)> forward;
    auto model = compress::expand_compressed(compressed, spec, forward);
    check_stop();
    Metadata meta = provenance_metadata();
    meta["paramkit.model"] = nn::to_json(spec).dump();
    save_state_dict(*model, out, meta);
    ExpandResult r{nn::to_json(spec)};
    for (const auto& p : model->parameters()) r.parameters += p.numel();
    return r;
  }
  std::string compressed, out;
};
}  // namespace

void add_expand(cli::Tool& tool) { tool.add<ExpandCommand>(); }
