// The training option group: nn's option structs mapped to flags.
#include "paramkit/cli/nn_options.h"

#include <fmt/format.h>

#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"

namespace paramkit::cli {

void add_optimizer(CLI::App& app, nn::OptimizerOptions& o) {
  app.add_option("--optimizer", o.name, "sgd, adam or adamw")->capture_default_str()->check(CLI::IsMember({"sgd", "adam", "adamw"}));
  app.add_option("--lr", o.lr, "Learning rate, in (0, 10]")->capture_default_str()->check(CLI::Range(1e-12, 10.0));
  app.add_option("--momentum", o.momentum, "SGD momentum")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  app.add_flag("--nesterov", o.nesterov, "SGD Nesterov momentum");
  app.add_option("--weight-decay", o.weight_decay, "Weight decay (decoupled for adamw), in [0, 10]")->capture_default_str()->check(CLI::Range(0.0, 10.0));
  app.add_option("--beta1", o.beta1, "Adam beta1")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  app.add_option("--beta2", o.beta2, "Adam beta2")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  app.add_option("--adam-eps", o.eps, "Adam epsilon")->capture_default_str()->check(CLI::PositiveNumber);
}

void add_schedule(CLI::App& app, nn::ScheduleOptions& o) {
  app.add_option("--schedule", o.kind, "constant, step or cosine")->capture_default_str()->check(CLI::IsMember({"constant", "step", "cosine"}));
  app.add_option("--warmup", o.warmup, "Linear warmup steps")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--step-size", o.step_size, "step schedule: decay every N steps")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--gamma", o.gamma, "step schedule: decay factor")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--min-lr-ratio", o.min_lr_ratio, "cosine schedule: final lr / base lr")->capture_default_str()->check(CLI::Range(0.0, 1.0));
}

void add_training(CLI::App& app, nn::TrainOptions& o) {
  app.add_option("--epochs", o.epochs, "Training epochs")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--batch-size", o.batch_size, "Mini-batch size")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--max-steps", o.max_steps, "Stop after this many steps (0: all epochs)")->capture_default_str()->check(CLI::NonNegativeNumber);
  add_checkpointing(app, o.checkpoint, "steps");
  app.add_option("--log-every", o.log_every, "Log the loss every N steps (0: never)")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--log-jsonl", o.log_jsonl, "Also write per-step records as JSON Lines to this file")->group("Outputs");
  add_optimizer(app, o.optimizer);
  add_schedule(app, o.schedule);
}

void add_image_data(CLI::App& app, ImageDataOptions& o) {
  app.add_option("--train-images", o.train_images, "IDX images for training")->required();
  app.add_option("--train-labels", o.train_labels, "IDX labels for training")->required();
  app.add_option("--test-images", o.test_images, "IDX images for testing (default: a seeded 10% split of the training set)");
  app.add_option("--test-labels", o.test_labels, "IDX labels for testing");
  app.add_option("--train-limit", o.train_limit, "Use the first N training examples (0: all)")->check(CLI::NonNegativeNumber);
}

TrainTest load_image_data(const ImageDataOptions& o, uint64_t seed) {
  if (o.test_images.empty() != o.test_labels.empty()) throw UsageError("--test-images and --test-labels go together");
  Dataset all = load_idx_dataset(o.train_images, o.train_labels);
  TrainTest t;
  t.read = all.size();
  if (o.train_limit > 0 && o.train_limit < all.size()) {
    std::vector<int64_t> rows(static_cast<size_t>(o.train_limit));
    for (int64_t i = 0; i < o.train_limit; ++i) rows[i] = i;
    all = all.subset(rows);
  }
  if (o.test_images.empty()) {
    auto parts = split_indices(all.size(), {0.9, 0.1}, seed);
    t.train = all.subset(parts[0]);
    t.test = all.subset(parts[1]);
  } else {
    t.train = all;
    t.test = load_idx_dataset(o.test_images, o.test_labels);
  }
  if (t.train.size() == 0 || t.test.size() == 0)
    throw UsageError(fmt::format("too few examples ({} read) for a training and a test set", t.read));
  return t;
}

}  // namespace paramkit::cli
