// The training option group of the LibTorch training tools (target paramkit_cli_nn): epochs, batches,
// step logs, the optimizer, the learning-rate schedule and checkpointing, with one name per flag.
#pragma once
#include <CLI/CLI.hpp>

#include "paramkit/data/dataset.h"
#include "paramkit/nn/optim.h"
#include "paramkit/nn/train.h"

namespace paramkit::cli {

// --optimizer, --lr, --momentum, --nesterov, --weight-decay, --beta1, --beta2, --adam-eps.
void add_optimizer(CLI::App& app, nn::OptimizerOptions& o);
// --schedule, --warmup, --step-size, --gamma, --min-lr-ratio.
void add_schedule(CLI::App& app, nn::ScheduleOptions& o);
// --epochs, --batch-size, --max-steps, checkpointing (cli::add_checkpointing, in steps), --log-every,
// --log-jsonl, then the optimizer's and the schedule's flags.
void add_training(CLI::App& app, nn::TrainOptions& o);

// Image classification data from IDX files: --train-images, --train-labels, --test-images,
// --test-labels (without them a seeded 10% of the training set), --train-limit.
struct ImageDataOptions {
  std::string train_images, train_labels, test_images, test_labels;
  int64_t train_limit = 0;  // the first N training examples (0: all)
};
void add_image_data(CLI::App& app, ImageDataOptions& o);
struct TrainTest {
  Dataset train, test;
  int64_t read = 0;  // training examples read (before the limit)
};
// UsageError for half a test pair or too few examples; InputError (from the readers) for bad files.
TrainTest load_image_data(const ImageDataOptions& o, uint64_t seed);

}  // namespace paramkit::cli
