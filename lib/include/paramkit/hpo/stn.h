// Self-Tuning Networks for image classifiers (stn-tune): an STN MLP and an STN CNN (LeNet-5 sized)
// whose dropout rates, augmentation and L2 are driven per example by declared hyperparameters
// (hpo/space.h), the alternating tuning loop of MacKay et al. (ICLR 2019), and plain training with fixed
// values or a schedule (the search baselines and retraining).
#pragma once
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "paramkit/core/resumable.h"
#include "paramkit/data/dataset.h"
#include "paramkit/hpo/space.h"
#include "paramkit/nn/stn.h"
#include "paramkit/nn/train.h"

namespace paramkit::hpo {

struct StnSpec {
  std::string model = "mlp";              // mlp | cnn
  std::vector<int64_t> hidden = {256, 256};  // mlp
  int64_t image_size = 28, channels = 1, classes = 10;
  std::vector<HyperParam> hypers;         // the tuned (or fixed) hyperparameters, in column order
  int64_t hidden_layers() const;          // dropout.1 .. dropout.N exist
  void validate() const;                  // UsageError: unknown model, a hyperparameter the model lacks
};
nlohmann::json to_json(const StnSpec& s);
StnSpec stn_spec_from_json(const nlohmann::json& j, const std::string& source);

// Relaxed and projected values [B, H] from unconstrained rows u [B, H] (floor for discrete ones).
torch::Tensor hyper_values(const std::vector<HyperParam>& hypers, const torch::Tensor& u);

class StnNetImpl : public torch::nn::Module {
 public:
  explicit StnNetImpl(const StnSpec& spec);
  // x: images [B, C, H, W] or [B, H, W]. h: [B, H] unconstrained rows for the hypernetwork (undefined: the
  // plain network). values: [B, H] the values driving dropout while training (undefined: no dropout).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& h = {}, const torch::Tensor& values = {});
  // Sum of squares of the general weights (the L2 term).
  torch::Tensor l2_term() const;
  const StnSpec& spec() const { return spec_; }

 private:
  torch::Tensor drop(const torch::Tensor& x, const torch::Tensor& values, const std::string& name, bool channel) const;
  StnSpec spec_;
  std::vector<nn::StnLinear> fc_;
  std::vector<nn::StnConv2d> conv_;
};
TORCH_MODULE(StnNet);

// Per-example augmentation of images [B, C, H, W] in [0, 1] from values [B, H] (aug.shift: a translation
// by up to shift x side pixels each way, zero filled; aug.cutout_length / aug.cutout_holes: squares of
// zeros at uniform centres, clipped; aug.brightness: + U(-b, b); aug.contrast: mean + (x - mean)
// exp(U(-c, c))). Hyperparameters not declared are off. LibTorch's generator.
torch::Tensor augment(const torch::Tensor& x, const torch::Tensor& values, const std::vector<HyperParam>& hypers);

struct TuneOptions {
  int64_t epochs = 10;          // weight-training epochs, warm-up included
  int64_t warmup_epochs = 1;    // weight steps only
  int64_t batch_size = 128;
  int64_t t_train = 2, t_val = 1;
  double lr = 0.01, momentum = 0.9;  // weights (SGD): W, the hypernetwork V and the scales
  double hyper_lr = 3e-3;            // hyperparameters and perturbation scales (Adam)
  double sigma0 = 0.5;               // initial perturbation scale
  double tau = 1e-3;                 // entropy weight
  bool tune_scales = true;
  int64_t record_every = 10;  // hyper steps between trajectory rows
  CheckpointOptions checkpoint;
  void validate() const;
};

struct TrajectoryRow {
  int64_t unit = 0, weight_steps = 0, hyper_steps = 0;
  std::vector<double> values, sigmas;  // projected values of the unperturbed h, softplus(sigma_raw)
};
struct EpochRecord {
  int64_t epoch = 0;  // 1-based: after this many weight epochs
  double val_loss = 0, val_accuracy = 0, units = 0;
  std::vector<double> values;
};
struct TuneResult {
  int64_t units = 0, weight_steps = 0, hyper_steps = 0;
  bool finished = false;
  double epochs_spent = 0;  // (weight + hyper steps) / batches per training epoch
  std::vector<TrajectoryRow> trajectory;
  std::vector<EpochRecord> epochs;
};
nlohmann::json to_json(const TrajectoryRow& r);
nlohmann::json to_json(const EpochRecord& r);

// Every function runs on the network's device (the caller moves the network and h there); data stays on
// the CPU and moves a batch at a time.
// The alternating loop: warmup_epochs of weight steps, then cycles of t_train weight steps (train mode,
// per-example perturbed h~ driving dropout and augmentation, SGD on the network) and t_val hyperparameter
// steps (eval mode on validation batches, CE_val(h~) - tau H, Adam on h and the scales). After each
// weight epoch the validation split is evaluated at the unperturbed h. Checkpoints (network, h, scales,
// both optimizers, generator, trajectory) and resume through run_resumable; SIGTERM stops at a unit.
TuneResult tune_stn(StnNetImpl& net, nn::HyperState& hyper, const Dataset& train, const Dataset& val, const TuneOptions& options,
                    uint64_t seed);

// Plain training (no hypernetwork) with the values of each epoch's row of `schedule` (the last row
// repeats), dropout and augmentation per those values, the L2 term: the search baselines and retraining.
nn::TrainResult train_fixed(StnNetImpl& net, const Dataset& train, const std::vector<std::vector<double>>& schedule,
                            const nn::TrainOptions& options, uint64_t seed);

// Accuracy and loss in eval mode, with the hypernetwork at h (unconstrained, [H]; undefined: the plain
// network).
nn::EvalResult evaluate_stn(StnNetImpl& net, const Dataset& data, const torch::Tensor& h = {}, int64_t batch_size = 1000);

}  // namespace paramkit::hpo
