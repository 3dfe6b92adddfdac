// Training helpers: evaluation of loss and accuracy, and a resumable classification training loop
// (paramkit::run_resumable) that checkpoints atomically every N steps. Flags: cli/nn_options.h.
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "paramkit/core/resumable.h"
#include "paramkit/data/dataset.h"
#include "paramkit/nn/optim.h"
#include "paramkit/nn/generated.h"
#include "paramkit/torch/checkpoint.h"

namespace paramkit::nn {

using Forward = std::function<torch::Tensor(torch::Tensor)>;

struct EvalResult {
  double loss = 0;      // mean cross-entropy
  double accuracy = 0;  // fraction correct
  int64_t count = 0;
};

EvalResult evaluate(torch::nn::Module& model, const Forward& forward, const Dataset& data, int64_t batch_size = 1000,
                    c10::Device device = c10::kCPU);

struct TrainOptions {
  int64_t epochs = 1;
  int64_t batch_size = 64;
  int64_t max_steps = 0;  // 0: epochs * batches per epoch (the schedule's length)
  // Units are optimizer steps: every N steps, --stop-after N more steps (e.g. to fit a time slot).
  CheckpointOptions checkpoint;
  int64_t log_every = 100;
  std::filesystem::path log_jsonl;  // per-step records {"step","epoch","loss","lr"} every log_every steps
  OptimizerOptions optimizer;
  ScheduleOptions schedule;
  // UsageError for combinations flags alone cannot reject (call before loading data).
  void validate() const;
};

struct TrainResult {
  int64_t steps = 0;
  double last_loss = 0;
  bool resumed = false;
  int64_t resumed_from_step = 0;
  bool finished = false;  // false when stop_after ended the run early
};

// Trains `model` with cross-entropy on `data`, seeded by `seed`. With a checkpoint path it saves every
// checkpoint.every steps, at the end and after checkpoint.stop_after steps; checkpoint.resume continues
// from it when it exists. Stops at a safe point on SIGINT/SIGTERM after saving (throws Interrupted).
// Tests: PARAMKIT_TEST_KILL_AT_STEP=N raises SIGKILL right after step N (before its checkpoint).
// The one step-wise training loop (train_classifier and rlhf's SFT and reward-model stages run on it):
// batches of `items` rows in a seeded order per epoch, the learning-rate schedule, optimizer.zero_grad(),
// step_loss (which computes the gradients and returns the loss), optimizer.step(); a non-finite loss
// ends the run naming the step and learning rate; step logs every log_every steps (log and JSON Lines),
// a progress bar named `label`; checkpoints of `saved`, the optimizer, LibTorch's generator and the
// position through run_resumable (every N steps, at the end, at --stop-after, at SIGINT/SIGTERM).
// log_fields adds a step log's own fields (accuracy, router statistics) to its JSON Lines record.
using StepLoss = std::function<double(const std::vector<int64_t>& rows, const TrainPosition& position)>;
TrainResult train_steps(torch::nn::Module& saved, torch::optim::Optimizer& optimizer, int64_t items, const TrainOptions& options,
                        uint64_t seed, const std::string& label, const StepLoss& step_loss,
                        const std::function<void(int64_t step, double loss)>& on_step = {},
                        const std::function<void(nlohmann::json& record)>& log_fields = {});

// With generated weights (nn/generated.h: a random subspace, shared weights; built on `model`), only
// their trainable tensors train: load() before each forward pass, backward() after each backward pass;
// the checkpoint holds the trainable tensors and their optimizer, and the module ends with the trained
// weights.
TrainResult train_classifier(torch::nn::Module& model, const Forward& forward, const Dataset& data,
                             const TrainOptions& options, uint64_t seed, c10::Device device = c10::kCPU,
                             const std::function<void(int64_t step, double loss)>& on_step = {},
                             WeightGenerator* generated = nullptr);

}  // namespace paramkit::nn
