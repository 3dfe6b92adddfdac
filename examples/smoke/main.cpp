// paramkit-smoke: the library's smoke example until the paper tools land. Trains a classifier on IDX
// data (MNIST) with resumable checkpoints, evaluates it, and writes model + evaluation + manifest.
#include <algorithm>
#include <iostream>

#include "paramkit/torch/device.h"
#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/provenance.h"
#include "paramkit/core/run.h"
#include "paramkit/data/dataset.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/io/json.h"
#include "paramkit/torch/state_dict.h"
#include "paramkit/nn/models.h"
#include "paramkit/nn/train.h"

using namespace paramkit;
namespace fs = std::filesystem;

int main(int argc, char** argv) {
  Tool tool("paramkit-smoke", "Train and evaluate a small classifier on IDX (MNIST) data: a smoke test of paramkit's library.",
            "paramkit-smoke --train-images tests/data/mnist-256-images-idx3-ubyte.gz "
            "--train-labels tests/data/mnist-256-labels-idx1-ubyte.gz --out /tmp/smoke");
  CLI::App& app = tool.app();
  std::string train_images, train_labels, test_images, test_labels, out, model_name = "mlp";
  int64_t train_limit = 0;
  std::string init;
  std::vector<int64_t> digits;
  bool eval_only = false;
  double val_fraction = 0.1;
  nn::TrainOptions train;
  app.add_option("--train-images", train_images, "IDX images for training")->required()->check(CLI::ExistingFile);
  app.add_option("--train-labels", train_labels, "IDX labels for training")->required()->check(CLI::ExistingFile);
  app.add_option("--test-images", test_images, "IDX images for testing (default: the validation split)");
  app.add_option("--test-labels", test_labels, "IDX labels for testing");
  app.add_option("--train-limit", train_limit, "Use the first N training examples (0: all)")->check(CLI::NonNegativeNumber);
  app.add_option("--val-fraction", val_fraction, "Seeded validation split")->capture_default_str()->check(CLI::Range(0.0, 0.9));
  app.add_option("--model", model_name, "mlp, lenet5 or resnet20")->capture_default_str()->check(CLI::IsMember({"mlp", "lenet5", "resnet20"}));
  app.add_option("--out", out, "Output folder: model.safetensors, eval.json, manifest.json");
  app.add_option("--init", init, "Start from these weights (safetensors, HF folder or .h5)");
  app.add_option("--digits", digits, "Keep only examples with these labels (a task: e.g. --digits 0 1 2)")->delimiter(',');
  app.add_flag("--eval-only", eval_only, "Evaluate --init on the test set (or the validation split); print the accuracy");
  train.register_flags(app);

  return tool.run(argc, argv, [&](RunContext& ctx) -> int {
    if (test_images.empty() != test_labels.empty()) throw UsageError("--test-images and --test-labels go together");
    train.validate();
    if (eval_only && init.empty()) throw UsageError("--eval-only needs --init");
    if (!eval_only && out.empty()) throw UsageError("--out is required unless --eval-only");
    for (int64_t d : digits)
      if (d < 0 || d > 9) throw UsageError("--digits: labels are 0-9, got " + std::to_string(d));
    c10::Device device = parse_device(ctx.common.device);
    auto keep_digits = [&](const Dataset& d) {
      if (digits.empty()) return d;
      std::vector<int64_t> rows;
      auto y = d.y.accessor<int64_t, 1>();
      for (int64_t i = 0; i < d.size(); ++i)
        if (std::find(digits.begin(), digits.end(), y[i]) != digits.end()) rows.push_back(i);
      return d.subset(rows);
    };
    Dataset all = keep_digits(load_idx_dataset(train_images, train_labels));
    if (train_limit > 0 && train_limit < all.size()) {
      std::vector<int64_t> rows(train_limit);
      for (int64_t i = 0; i < train_limit; ++i) rows[i] = i;
      all = all.subset(rows);
    }
    auto parts = split_indices(all.size(), {1.0 - val_fraction, val_fraction}, ctx.common.seed);
    Dataset tr = all.subset(parts[0]), val = all.subset(parts[1]);
    std::vector<int64_t> in_shape(all.x.sizes().begin() + 1, all.x.sizes().end());
    std::function<torch::Tensor(torch::Tensor)> forward;
    auto model = nn::make_model(model_name, in_shape, 10, forward);
    if (!init.empty()) load_state_dict(*model, init);
    if (eval_only) {
      Dataset te = test_images.empty() ? val : keep_digits(load_idx_dataset(test_images, test_labels));
      nn::EvalResult ev = nn::evaluate(*model, forward, te, 1000, device);
      ctx.results = {{"accuracy", ev.accuracy}, {"loss", ev.loss}, {"examples", ev.count}};
      std::cout << fmt::format("{}", ev.accuracy) << "\n";  // the score an --eval-cmd prints
      return 0;
    }
    log::info("training {} on {} examples ({} validation)", model_name, tr.size(), val.size());
    nn::TrainResult r = nn::train_classifier(*model, forward, tr, train, ctx.common.seed, device);
    nn::EvalResult ev = nn::evaluate(*model, forward, val, 1000, device);
    nlohmann::json results = {{"steps", r.steps}, {"last_loss", r.last_loss}, {"resumed", r.resumed},
                              {"val_loss", ev.loss}, {"val_accuracy", ev.accuracy}};
    if (!test_images.empty()) {
      Dataset te = keep_digits(load_idx_dataset(test_images, test_labels));
      nn::EvalResult et = nn::evaluate(*model, forward, te, 1000, device);
      results["test_loss"] = et.loss;
      results["test_accuracy"] = et.accuracy;
    }
    OutputSet set(out);
    Metadata meta = provenance_metadata();
    meta["model"] = model_name;
    model->to(torch::kCPU);
    save_state_dict(*model, fs::path(out) / "model.safetensors", meta);
    set.add("model.safetensors");
    write_json(fs::path(out) / "eval.json", {{"provenance", current_provenance().to_json()}, {"results", results}});
    set.add("eval.json");
    nlohmann::json manifest = {{"provenance", current_provenance().to_json()}, {"files", set.files()}};
    set.commit("manifest.json", manifest.dump(2) + "\n");
    ctx.results = results;
    std::cout << results.dump() << "\n";
    return 0;
  });
}
