// pfgm-sample classifier: the small CNN whose 128-unit feature layer gives `evaluate` its Frechet distance
// for images (a stand-in for Inception features, trained here on the same data), with its held-out
// accuracy.
#include <fmt/format.h>

#include "commands.h"
#include "paramkit/cli/nn_options.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/provenance.h"
#include "paramkit/core/signals.h"
#include "paramkit/data/dataset.h"
#include "paramkit/gen/examples_io.h"
#include "paramkit/gen/metrics.h"
#include "paramkit/torch/device.h"
#include "paramkit/torch/state_dict.h"

using namespace paramkit;

namespace {
struct ClassifierCommand : cli::Command {
  ClassifierCommand()
      : Command("classifier", "Train the feature classifier of evaluate's image metrics on labelled images",
                "pfgm-sample classifier --data tests/data/mnist-256-images-idx3-ubyte.gz --labels tests/data/mnist-256-labels-idx1-ubyte.gz "
                "--epochs 1 -o /tmp/features.safetensors") {
    train.batch_size = 128;
    train.epochs = 3;
    train.optimizer.name = "adam";
    train.optimizer.lr = 1e-3;
    train.log_every = 0;
  }
  void add_options(CLI::App& app) override {
    app.add_option("--data", data, "Images (IDX, or 'images' in .h5/.safetensors)")->required()->check(CLI::ExistingFile);
    app.add_option("--labels", labels, "Their labels (IDX, or 'labels'/'y' in .h5/.safetensors)")->required()->check(CLI::ExistingFile);
    app.add_option("--test-fraction", test_fraction, "Held-out fraction for the reported accuracy")->capture_default_str()->check(CLI::Range(0.01, 0.5));
    cli::add_training(app, train);
    cli::add_output(app, out, "The classifier (safetensors)");
  }
  nlohmann::json execute(cli::Context& ctx) override {
    train.validate();
    const c10::Device device = parse_device(ctx.common.device);
    const gen::Examples e = gen::load_examples(data);
    if (e.kind != "images") throw InputError(data, e.kind, "the feature classifier takes images");
    const torch::Tensor y = gen::load_labels(labels);
    if (y.size(0) != e.x.size(0)) throw InputError(labels, "labels", fmt::format("{} labels for {} images", y.size(0), e.x.size(0)));
    if (e.x.size(0) < 20) throw InputError(data, "images", "need at least 20 labelled images");
    const int64_t classes = std::max<int64_t>(2, y.max().item<int64_t>() + 1);
    const auto parts = split_indices(e.x.size(0), {1 - test_fraction, test_fraction}, ctx.common.seed);
    const Dataset all{e.x, y};
    const Dataset tr = all.subset(parts[0]), te = all.subset(parts[1]);
    torch::manual_seed(ctx.common.seed);
    gen::FeatureNet net(e.x.size(1), e.x.size(2), e.x.size(3), classes);
    net->to(device);
    const nn::Forward fwd = [net](torch::Tensor x) mutable { return net->forward(x); };
    nn::TrainResult t;
    {
      auto timer = ctx.timers.scope("train");
      t = nn::train_classifier(*net, fwd, tr, train, ctx.common.seed, device);
    }
    nlohmann::json r = {{"steps", t.steps}, {"finished", t.finished}, {"classes", classes}, {"train_examples", tr.size()}, {"test_examples", te.size()}};
    if (!t.finished) return r;
    const nn::EvalResult ev = nn::evaluate(*net, fwd, te, 500, device);
    r["test_accuracy"] = ev.accuracy;
    check_stop();
    net->to(torch::kCPU);
    Metadata meta = provenance_metadata();
    meta["paramkit.pfgm.classifier"] =
        nlohmann::json({{"shape", std::vector<int64_t>{e.x.size(1), e.x.size(2), e.x.size(3)}}, {"classes", classes}, {"test_accuracy", ev.accuracy}})
            .dump();
    save_state_dict(*net, out, meta);
    log::info("feature classifier: held-out accuracy {:.4f} on {} images", ev.accuracy, te.size());
    r["output"] = out;
    return r;
  }
  std::string data, labels, out;
  double test_fraction = 0.1;
  nn::TrainOptions train;
};
}  // namespace

void add_classifier(cli::Tool& tool) { tool.add<ClassifierCommand>(); }
