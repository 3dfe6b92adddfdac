// Weights generated from a smaller trainable set: a random subspace theta0 + P theta_d
// (nn/subspace.h), weights shared through a hashed map (compress/rps.h). Before each forward pass
// load() writes the generated weights into the module's parameters; after the backward pass
// backward() moves their gradients onto the trainable tensors and clears the parameters' own. The
// training loop (nn::train_classifier) then steps and checkpoints only trainable().
#pragma once
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace paramkit::nn {

class WeightGenerator {
 public:
  virtual ~WeightGenerator() = default;
  virtual void load() = 0;
  virtual void backward() = 0;
  // The tensors the optimizer steps, with the names a checkpoint gives them (no dots).
  virtual std::vector<std::pair<std::string, torch::Tensor>> trainable() = 0;
  // Other tensors a checkpoint must hold to resume exactly (the module's buffers: batch-norm
  // statistics), with names as above.
  virtual std::vector<std::pair<std::string, torch::Tensor>> state() { return {}; }
};

// A module path as a checkpoint name of a holder module ("layers.0.weight" -> "layers__0__weight").
std::string checkpoint_name(const std::string& path);

}  // namespace paramkit::nn
