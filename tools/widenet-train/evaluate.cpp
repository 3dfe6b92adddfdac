// widenet-train evaluate: a saved model (train --save) on IDX images: accuracy, loss and the routing of
// every MoE block (per-expert load, dropped fraction) at the evaluation capacity factor.
#include <fmt/format.h>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"
#include "paramkit/data/dataset.h"
#include "paramkit/io/json.h"
#include "paramkit/io/tensor_store.h"
#include "paramkit/torch/device.h"
#include "paramkit/torch/state_dict.h"

using namespace paramkit;

namespace {
struct EvalReport {
  std::string variant;
  nn::VitOptions model;
  int64_t examples = 0;
  double accuracy = 0, loss = 0;
  nlohmann::json routing;
};
void to_json(nlohmann::json& j, const EvalReport& r) {
  j = {{"variant", r.variant}, {"model", nn::to_json(r.model)}, {"examples", r.examples},
       {"accuracy", r.accuracy}, {"loss", r.loss}, {"routing", r.routing}};
}

struct EvaluateCommand : cli::TypedCommand<EvalReport> {
  EvaluateCommand()
      : TypedCommand("evaluate", "Accuracy and per-block router load of a saved model (train --save) on IDX images",
                     "widenet-train evaluate tests/data/widenet/widenet.safetensors --images tests/data/mnist-256-images-idx3-ubyte.gz --labels "
                     "tests/data/mnist-256-labels-idx1-ubyte.gz -o /tmp/widenet-eval.json") {}
  void add_options(CLI::App& app) override {
    app.add_option("model", model_path, "The model (widenet-train train --save)")->required()->check(CLI::ExistingFile);
    app.add_option("--images", images, "IDX images")->required()->check(CLI::ExistingFile);
    app.add_option("--labels", labels, "IDX labels")->required()->check(CLI::ExistingFile);
    cap = app.add_option("--eval-capacity-factor", capacity, "MoE capacity factor (0: no limit; default: the model's)")->check(CLI::Range(0.0, 1e4));
    app.add_option("--batch-size", batch, "Images per batch (the capacity is per batch)")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
    cli::add_output(app, out, "Report (JSON)");
  }
  EvalReport run(cli::Context& ctx) override {
    const c10::Device device = parse_device(ctx.common.device);
    auto reader = open_tensors(model_path);
    auto it = reader->metadata().find("paramkit.vit");
    if (it == reader->metadata().end()) throw InputError(model_path, "__metadata__.paramkit.vit", "missing: not a widenet-train train --save model");
    nlohmann::json mj;
    try {
      mj = nlohmann::json::parse(it->second);
    } catch (const nlohmann::json::exception&) {
      throw InputError(model_path, "__metadata__.paramkit.vit", "is not JSON");
    }
    EvalReport r;
    r.model = nn::vit_options_from_json(mj, model_path + ": __metadata__.paramkit.vit");
    if (cap->count() > 0) r.model.eval_capacity_factor = capacity;
    r.variant = variant_name(r.model);
    nn::VisionTransformer net(r.model);
    load_state_dict(*net, *reader, /*strict=*/true);
    net->to(device);
    const Dataset data = load_idx_dataset(images, labels);
    const auto& x = data.x;
    const int64_t ch = x.dim() == 4 ? x.size(1) : 1;
    if (x.dim() < 3 || x.size(-1) != r.model.image_size || x.size(-2) != r.model.image_size || ch != r.model.channels)
      throw InputError(images, "dimensions", fmt::format("the model takes {}x{}x{} images", r.model.channels, r.model.image_size, r.model.image_size));
    if (data.y.numel() > 0 && data.y.max().item<int64_t>() >= r.model.classes)
      throw InputError(labels, "labels", fmt::format("a label of {} or more; the model has {} classes", r.model.classes, r.model.classes));
    const nn::VitEval e = nn::evaluate_vit(*net, data, batch, device);
    r.examples = e.result.count;
    r.accuracy = e.result.accuracy;
    r.loss = e.result.loss;
    if (!e.routing.blocks.empty()) r.routing = e.routing.to_json();
    check_stop();
    write_report(out, r);
    return r;
  }
  std::string model_path, images, labels, out;
  double capacity = 0;
  CLI::Option* cap = nullptr;
  int64_t batch = 500;
};
}  // namespace

void add_evaluate(cli::Tool& tool) { tool.add<EvaluateCommand>(); }
