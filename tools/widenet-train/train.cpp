// widenet-train train: one model (vit, vit-moe or widenet), one seed, on IDX images; AdamW with warmup
// and cosine decay, label smoothing, the MoE balance loss; a report with test accuracy, parameter
// counts and the routing at evaluation.
#include <fmt/format.h>

#include <cmath>
#include <filesystem>

#include "commands.h"
#include "paramkit/cli/nn_options.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/provenance.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/json.h"
#include "paramkit/torch/device.h"
#include "paramkit/torch/state_dict.h"

using namespace paramkit;

namespace {
nlohmann::json params_json(const nn::VitOptions& o) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& r : nn::count_parameters(o))
    rows.push_back({{"component", r.component}, {"trainable", r.trainable}, {"unrolled", r.unrolled}, {"active", r.active}});
  return rows;
}

struct TrainReport {
  std::string variant;
  nn::VitOptions model;
  nlohmann::json params, routing;
  int64_t trainable = 0, steps = 0, train_examples = 0;
  uint64_t seed = 0;
  double label_smoothing = 0, test_accuracy = NAN, test_loss = NAN, last_loss = NAN;
  bool finished = false;
};
void to_json(nlohmann::json& j, const TrainReport& r) {
  j = {{"variant", r.variant},       {"model", nn::to_json(r.model)},   {"trainable", r.trainable},
       {"params", r.params},         {"seed", r.seed},                  {"label_smoothing", r.label_smoothing},
       {"steps", r.steps},           {"train_examples", r.train_examples}, {"finished", r.finished},
       {"last_loss", json_number(r.last_loss)}, {"test_accuracy", json_number(r.test_accuracy)}, {"test_loss", json_number(r.test_loss)},
       {"routing", r.routing}};
}

struct TrainCommand : cli::TypedCommand<TrainReport> {
  TrainCommand()
      : TypedCommand("train", "Train a ViT, ViT-MoE or WideNet on IDX images and report its test accuracy, parameters and routing",
                     "widenet-train train --train-images tests/data/mnist-256-images-idx3-ubyte.gz --train-labels "
                     "tests/data/mnist-256-labels-idx1-ubyte.gz --model widenet --depth 4 --width 32 --epochs 2 -o /tmp/widenet.json") {
    train.batch_size = 128;
    train.epochs = 5;
    train.optimizer.name = "adamw";
    train.optimizer.lr = 1e-3;
    train.optimizer.weight_decay = 0.1;
    train.schedule.kind = "cosine";
    train.schedule.warmup = 200;
    train.log_every = 0;
  }
  void add_options(CLI::App& app) override {
    cli::add_image_data(app, data);
    add_model_flags(app, model);
    app.add_option("--label-smoothing", label_smoothing, "Label smoothing of the training cross-entropy")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 0.99));
    app.add_option("--eval-batch-size", eval_batch, "Images per evaluation batch (the eval capacity is per batch)")
        ->capture_default_str()
        ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
    app.add_option("--save", save, "The trained model (safetensors, with its options: what evaluate reads)");
    cli::add_training(app, train);
    cli::add_output(app, out, "Report (JSON)");
  }

  TrainReport run(cli::Context& ctx) override {
    train.validate();
    if (!save.empty() && std::filesystem::path(save) == std::filesystem::path(out)) throw UsageError("--save and --output must differ");
    const c10::Device device = parse_device(ctx.common.device);
    cli::TrainTest tt = cli::load_image_data(data, ctx.common.seed);
    const auto& x = tt.train.x;
    if (x.dim() < 3 || x.dim() > 4 || x.size(-1) != x.size(-2))
      throw InputError(data.train_images, "dimensions", "expected square images [N, H, W] or [N, C, H, W]");
    const int64_t classes = std::max<int64_t>(10, tt.train.y.max().item<int64_t>() + 1);
    TrainReport r;
    r.model = model_options(model, x.size(-1), x.dim() == 4 ? x.size(1) : 1, classes);
    r.variant = variant_name(r.model);
    r.params = params_json(r.model);
    r.trainable = r.params.back()["trainable"].get<int64_t>();
    r.seed = ctx.common.seed;
    r.label_smoothing = label_smoothing;
    r.train_examples = tt.train.size();
    torch::manual_seed(ctx.common.seed);
    nn::VisionTransformer net(r.model);
    net->to(device);
    log::info("{}: depth {}, width {}, {} trainable parameters ({} unrolled), {} training images", r.variant, r.model.depth, r.model.width,
              r.trainable, r.params.back()["unrolled"].get<int64_t>(), tt.train.size());
    nn::TrainResult t;
    {
      auto timer = ctx.timers.scope("train");
      t = nn::train_vit(*net, tt.train, train, label_smoothing, ctx.common.seed, device);
    }
    r.steps = t.steps;
    r.finished = t.finished;
    r.last_loss = t.last_loss;
    if (!t.finished) return r;  // --stop-after: the checkpoint holds the run
    const nn::VitEval e = nn::evaluate_vit(*net, tt.test, eval_batch, device);
    r.test_accuracy = e.result.accuracy;
    r.test_loss = e.result.loss;
    if (!e.routing.blocks.empty()) r.routing = e.routing.to_json();
    check_stop();
    if (!save.empty()) {
      Metadata meta = provenance_metadata();
      meta["paramkit.vit"] = nn::to_json(r.model).dump();
      save_state_dict(*net, save, meta);
    }
    write_report(out, r);
    return r;
  }
  cli::ImageDataOptions data;
  ModelFlags model;
  double label_smoothing = 0.1;
  int64_t eval_batch = 500;
  std::string out, save;
  nn::TrainOptions train;
};
}  // namespace

void add_train(cli::Tool& tool) { tool.add<TrainCommand>(); }
