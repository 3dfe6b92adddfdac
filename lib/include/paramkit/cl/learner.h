// Continual-learning algorithms on an MLP over a scenario (cl/scenario.h): finetune, joint (the upper
// bound), EWC, LwF, replay (reservoir), iCaRL (herding, nearest-mean-of-exemplars), WA (weight aligning:
// the bias-correction method), DER and DER++, each with the hyperparameters its paper tunes. One run
// trains the tasks in order and fills the accuracy matrix; it is resumable at any batch.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "paramkit/cl/metrics.h"
#include "paramkit/cl/scenario.h"
#include "paramkit/core/rng.h"
#include "paramkit/core/resumable.h"
#include "paramkit/hpo/space.h"

namespace paramkit::cl {

const std::vector<std::string>& algorithm_names();  // finetune joint ewc lwf replay icarl wa der derpp

struct AlgoSpec {
  std::string name = "finetune";
  std::map<std::string, double> hypers;  // lr and the algorithm's own (algorithm_space)
  int64_t epochs = 1, batch_size = 32;
  int64_t memory = 200;                  // replay, iCaRL, WA, DER(++): examples kept
  std::vector<int64_t> hidden = {256, 256};
  double hyper(const std::string& key) const;  // the value, or the space's init
  void validate() const;                       // UsageError naming the field
};

// The hyperparameters each algorithm's paper tunes, with ranges (lr for all; ewc.lambda; lwf.alpha,
// lwf.temperature; wa.alpha; der.alpha; der.beta).
std::vector<hpo::HyperParam> algorithm_space(const std::string& name);

// Reservoir sampling (Vitter's algorithm R): the slot for the n-th item seen (0-based) in a buffer of
// `capacity`, or -1 when it is not kept. Every item seen is kept with probability capacity / seen.
int64_t reservoir_slot(int64_t seen, int64_t capacity, Rng& rng);

// Herding (Welling 2009; iCaRL): indices of m rows of `features` [N, D] whose running mean best
// approximates the mean of all rows, greedily, without repetition.
std::vector<int64_t> herding(const torch::Tensor& features, int64_t m);

// The diagonal empirical Fisher of `model`'s parameters on (x, y): mean over examples of the squared
// gradient of log p(y | x) (one example at a time).
std::vector<torch::Tensor> diagonal_fisher(torch::nn::Module& model, const std::function<torch::Tensor(torch::Tensor)>& forward,
                                           const torch::Tensor& x, const torch::Tensor& y);

struct RunResult {
  AccuracyMatrix accuracy;
  bool finished = false;
  int64_t steps = 0;
  int64_t diverged_at = 0;  // the step whose loss was not finite (0: none); training stopped there
};

// Trains the tasks in order (SGD at hypers["lr"], `epochs` per task) and evaluates every seen task after
// each one. Checkpoints (network, buffers, Fisher, the old network, the accuracy rows, generators) at
// any batch through run_resumable; SIGTERM stops within a batch. A non-finite loss (a diverging
// configuration) stops training but not the run: the remaining rows are evaluated, diverged_at says where.
RunResult run_continual(const Scenario& scenario, const AlgoSpec& algo, uint64_t seed, const CheckpointOptions& checkpoint);

}  // namespace paramkit::cl
