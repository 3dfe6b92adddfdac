// Checkpoint/resume for long jobs: model, optimizer, RNG states and data position in one safetensors
// file, written atomically, so a job killed at any moment resumes to the same result.
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "paramkit/core/rng.h"

namespace paramkit {

struct TrainPosition {
  int64_t step = 0;   // optimizer steps done
  int64_t epoch = 0;  // current epoch
  int64_t batch = 0;  // batches of the current epoch done
};

struct CheckpointState {
  TrainPosition position;
  nlohmann::json extra = nlohmann::json::object();  // the tool's own state (best score, history...)
};

// Saves atomically. rng may be null.
void save_checkpoint(const std::filesystem::path& path, const torch::nn::Module& model, torch::optim::Optimizer& optimizer,
                     const Rng* rng, const CheckpointState& state);

// Restores model, optimizer, LibTorch's CPU generator and rng; returns the saved state.
CheckpointState load_checkpoint(const std::filesystem::path& path, torch::nn::Module& model,
                                torch::optim::Optimizer& optimizer, Rng* rng);

// Several optimizers (e.g. an actor's and a critic's), each under its name.
using NamedOptimizers = std::vector<std::pair<std::string, torch::optim::Optimizer*>>;
void save_checkpoint(const std::filesystem::path& path, const torch::nn::Module& model, const NamedOptimizers& optimizers,
                     const Rng* rng, const CheckpointState& state);
CheckpointState load_checkpoint(const std::filesystem::path& path, torch::nn::Module& model, const NamedOptimizers& optimizers, Rng* rng);

}  // namespace paramkit
