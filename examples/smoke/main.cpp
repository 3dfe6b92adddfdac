// paramkit-smoke: the library's smoke example until the paper tools land. Trains a classifier on IDX
// data (MNIST) with resumable checkpoints, evaluates it, and writes model + evaluation + manifest.
// --task trains an MLP trunk with a task head (data/tasks.h) for the multi-task merging example.
#include <algorithm>
#include <iostream>
#include <optional>

#include "paramkit/cli/nn_options.h"
#include "paramkit/cli/options.h"
#include "paramkit/cli/tool.h"
#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/provenance.h"
#include "paramkit/data/dataset.h"
#include "paramkit/data/tasks.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/io/json.h"
#include "paramkit/nn/models.h"
#include "paramkit/nn/train.h"
#include "paramkit/torch/device.h"
#include "paramkit/torch/runtime.h"
#include "paramkit/torch/state_dict.h"

using namespace paramkit;
namespace fs = std::filesystem;

namespace {

// --eval-only: the evaluation of --init; else the training run and its evaluations.
struct SmokeResult {
  bool eval_only = false;
  nn::EvalResult eval;  // --eval-only
  nn::TrainResult train;
  nn::EvalResult val;
  std::optional<nn::EvalResult> test;
};

void to_json(nlohmann::json& j, const SmokeResult& r) {
  if (r.eval_only) {
    j = {{"accuracy", r.eval.accuracy}, {"loss", r.eval.loss}, {"examples", r.eval.count}};
    return;
  }
  j = {{"steps", r.train.steps}, {"last_loss", r.train.last_loss}, {"resumed", r.train.resumed},
       {"val_loss", r.val.loss}, {"val_accuracy", r.val.accuracy}};
  if (r.test) {
    j["test_loss"] = r.test->loss;
    j["test_accuracy"] = r.test->accuracy;
  }
}

struct SmokeCommand : cli::TypedCommand<SmokeResult> {
  SmokeCommand()
      : TypedCommand("paramkit-smoke", "Train and evaluate a small classifier on IDX (MNIST) data",
                     "paramkit-smoke --train-images tests/data/mnist-256-images-idx3-ubyte.gz "
                     "--train-labels tests/data/mnist-256-labels-idx1-ubyte.gz -o /tmp/smoke") {}

  void add_options(CLI::App& app) override {
    app.add_option("--train-images", train_images, "IDX images for training")->required()->check(CLI::ExistingFile);
    app.add_option("--train-labels", train_labels, "IDX labels for training")->required()->check(CLI::ExistingFile);
    app.add_option("--test-images", test_images, "IDX images for testing (default: the validation split)");
    app.add_option("--test-labels", test_labels, "IDX labels for testing");
    app.add_option("--train-limit", train_limit, "Use the first N training examples (0: all)")->check(CLI::NonNegativeNumber);
    app.add_option("--val-fraction", val_fraction, "Seeded validation split")->capture_default_str()->check(CLI::Range(0.0, 0.9));
    app.add_option("--model", model_name, "mlp, lenet5 or resnet20")->capture_default_str()->check(CLI::IsMember({"mlp", "lenet5", "resnet20"}));
    cli::add_output(app, out, "Output folder: model.safetensors, eval.json, manifest.json", /*required=*/false);
    app.add_option("--init", init, "Start from these weights (safetensors, HF folder or .h5)");
    app.add_option("--digits", digits, "Keep only examples with these labels (a task: e.g. --digits 0 1 2)")->delimiter(',');
    app.add_flag("--eval-only", eval_only, "Evaluate --init on the test set (or the validation split); print the accuracy");
    std::string tasks;
    for (const auto& t : digit_task_names()) tasks += (tasks.empty() ? "" : ", ") + t;
    app.add_option("--task", task, "Train an MLP trunk (trunk.*) with a head for this task (head.*): " + tasks)
        ->check(CLI::IsMember(digit_task_names()));
    app.add_option("--head", head, "--task: take the head from this file (default: from --init where it fits the task)");
    app.add_option("--freeze", freeze, "--task: train only the other part (trunk: a linear probe; head: the trunk)")
        ->check(CLI::IsMember({"trunk", "head"}));
    cli::add_training(app, train);
  }

  SmokeResult run(cli::Context& ctx) override {
    if (test_images.empty() != test_labels.empty()) throw UsageError("--test-images and --test-labels go together");
    train.validate();
    if (eval_only && init.empty()) throw UsageError("--eval-only needs --init");
    if (!eval_only && out.empty()) throw UsageError("--output is required unless --eval-only");
    if (!out.empty() && fs::exists(out) && !fs::is_directory(out))
      throw UsageError("--output " + out + ": exists and is not a folder (the output is a folder of files)");
    if (task.empty() && (!head.empty() || !freeze.empty())) throw UsageError("--head and --freeze need --task");
    if (!task.empty() && model_name != "mlp") throw UsageError("--task trains an MLP trunk: --model must be mlp");
    for (int64_t d : digits)
      if (d < 0 || d > 9) throw UsageError("--digits: labels are 0-9, got " + std::to_string(d));
    const c10::Device device = parse_device(ctx.common.device);
    Dataset all = for_task(keep_digits(load_idx_dataset(train_images, train_labels)));
    if (train_limit > 0 && train_limit < all.size()) {
      std::vector<int64_t> rows(train_limit);
      for (int64_t i = 0; i < train_limit; ++i) rows[i] = i;
      all = all.subset(rows);
    }
    auto parts = split_indices(all.size(), {1.0 - val_fraction, val_fraction}, ctx.common.seed);
    Dataset tr = all.subset(parts[0]), val = all.subset(parts[1]);
    if (!eval_only && tr.size() == 0)
      throw UsageError(fmt::format("no training examples left ({} read; after --train-limit, --digits and the --val-fraction split)", all.size()));
    std::vector<int64_t> in_shape(all.x.sizes().begin() + 1, all.x.sizes().end());
    std::function<torch::Tensor(torch::Tensor)> forward;
    std::shared_ptr<torch::nn::Module> model;
    if (task.empty()) {
      model = nn::make_model(model_name, in_shape, 10, forward);
      if (!init.empty()) load_state_dict(*model, init);
    } else {
      model = make_task_model(in_shape, forward);
    }

    SmokeResult r;
    if (eval_only) {
      Dataset te = test_images.empty() ? val : for_task(keep_digits(load_idx_dataset(test_images, test_labels)));
      r.eval_only = true;
      r.eval = nn::evaluate(*model, forward, te, 1000, device);
      std::cout << fmt::format("{}", r.eval.accuracy) << "\n";  // the score an --eval-cmd prints
      return r;
    }
    log::info("training {} on {} examples ({} validation)", model_name, tr.size(), val.size());
    r.train = nn::train_classifier(*model, forward, tr, train, ctx.common.seed, device);
    if (!r.train.finished) {
      // --stop-after: the checkpoint holds the run; an output set would tell Make the job is done.
      log::info("stopped after step {} (--stop-after); --resume continues, no output written yet", r.train.steps);
      return r;
    }
    r.val = nn::evaluate(*model, forward, val, 1000, device);
    if (!test_images.empty())
      r.test = nn::evaluate(*model, forward, for_task(keep_digits(load_idx_dataset(test_images, test_labels))), 1000, device);
    const nlohmann::json results = r;

    OutputSet set(out);
    Metadata meta = provenance_metadata();
    meta["model"] = model_name;
    if (!task.empty()) meta["task"] = task;
    model->to(torch::kCPU);
    save_state_dict(*model, fs::path(out) / "model.safetensors", meta);
    set.add("model.safetensors");
    write_report(fs::path(out) / "eval.json", {{"results", results}});
    set.add("eval.json");
    nlohmann::json manifest = {{"provenance", current_provenance().to_json()}, {"files", set.files()}};
    set.commit("manifest.json", manifest.dump(2) + "\n");
    std::cout << results.dump() << "\n";
    return r;
  }

  Dataset keep_digits(const Dataset& d) const {
    if (digits.empty()) return d;
    std::vector<int64_t> rows;
    auto y = d.y.accessor<int64_t, 1>();
    for (int64_t i = 0; i < d.size(); ++i)
      if (std::find(digits.begin(), digits.end(), y[i]) != digits.end()) rows.push_back(i);
    return d.subset(rows);
  }

  Dataset for_task(const Dataset& d) const { return task.empty() ? d : make_digit_task(d, task); }

  // The MLP of --model mlp (784-256-256-classes) as a trunk (784-256-256) and a head for --task:
  // trunk from --init, head from --head, else from --init where its head fits, else a new one.
  std::shared_ptr<torch::nn::Module> make_task_model(const std::vector<int64_t>& in_shape, nn::Forward& forward) const {
    nn::MlpOptions o;
    o.in = 1;
    for (int64_t d : in_shape) o.in *= d;
    o.hidden = {256};
    o.out = 256;
    const int64_t classes = digit_task_classes(task);
    nn::TrunkHead m(o, classes);
    forward = [m](torch::Tensor x) mutable { return m->forward(x); };
    if (!init.empty()) load_state_dict(*m->trunk, *open_tensors(init), /*strict=*/true, "trunk.");
    std::string from = head;
    if (from.empty() && !init.empty()) {
      auto r = open_tensors(init);
      if (r->contains("head.weight") && r->info("head.weight").shape == std::vector<int64_t>{classes, o.out}) from = init;
      else log::info("{}: no head for task '{}' ({} classes): a new head", init, task, classes);
    }
    if (!from.empty()) load_state_dict(*m->head, *open_tensors(from), /*strict=*/true, "head.");
    if (freeze == "trunk") for (auto& p : m->trunk->parameters()) p.set_requires_grad(false);
    if (freeze == "head") for (auto& p : m->head->parameters()) p.set_requires_grad(false);
    return m.ptr();
  }

  std::string train_images, train_labels, test_images, test_labels, out, init, model_name = "mlp", task, head, freeze;
  int64_t train_limit = 0;
  std::vector<int64_t> digits;
  bool eval_only = false;
  double val_fraction = 0.1;
  nn::TrainOptions train;
};

}  // namespace

int main(int argc, char** argv) {
  cli::Tool tool("paramkit-smoke", "Train and evaluate a small classifier on IDX (MNIST) data: a smoke test of paramkit's library.");
  tool.alias("--out", "--output");
  tool.set_runtime([](const cli::CommonOptions& c) { start_torch(c.seed, c.threads, c.device); });
  tool.add_main<SmokeCommand>();
  return tool.main(argc, argv);
}
