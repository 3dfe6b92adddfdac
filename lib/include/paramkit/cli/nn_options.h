// The training option group of the LibTorch training tools (target paramkit_cli_nn): epochs, batches,
// step logs, the optimizer, the learning-rate schedule and checkpointing, with one name per flag.
#pragma once
#include <CLI/CLI.hpp>

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

}  // namespace paramkit::cli
