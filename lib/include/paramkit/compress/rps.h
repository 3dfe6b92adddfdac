// Randomized parameter sharing (Desai & Shrivastava, "In defense of parameter sharing for model
// compression", ICLR 2024): every weight of a model's weight matrices and kernels (Linear, Conv2d,
// Embedding: the parameters named *weight with two or more dimensions) is read from one shared array z
// of m = compression x (their count) slots,
//     W[k] = scale_layer * G[k] * z[IDX[k]],
// G a random sign per weight, scale_layer = std(the layer's initial weights) / init_std, and IDX from a
// mapper regenerated exactly from the seed (never stored in a file):
//   hashednet  one universal hash per weight, ((a k + b k^2 + c) mod P) mod m, P = 2038074743;
//   roast      the weight as K x N tiled into B x B blocks (B = 32), each block contiguous in z from
//              a hashed start, so a block's reads are one run of memory;
//   rps        STABLE-RPS RANDOMFOLD: all weights flattened together and folded onto z in chunks of m,
//              IDX = (h(loc div m) + loc mod m) mod m: a bijection at 1x, slot loads within one of
//              each other at any compression.
// The forward pass gathers (load() writes W into the module's parameters, runs of consecutive slots
// copied whole); the backward pass scatter-adds W's gradient into z over the same runs cut into fixed
// slot ranges, one thread's each (no write conflicts; HashedNet: a gather over each slot's weights). The STABLE-RPS gradient scaler divides z.grad per slot by
// (sum of the scales mapped to it)^2 / (their count): at 1x, SGD on z then takes SGD's steps on W.
// Biases and normalisation parameters stay dense and train as usual.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "paramkit/io/safetensors.h"
#include "paramkit/nn/generated.h"
#include "paramkit/nn/models.h"

namespace paramkit::compress {

enum class Mapper { hashednet, roast, rps };
Mapper parse_mapper(const std::string& name, const std::string& flag);  // UsageError naming the flag
const char* mapper_name(Mapper m);

struct ShareSpec {
  Mapper mapper = Mapper::rps;
  double compression = 0.1;  // m = max(1, round(compression x weights)); (0, 1]
  uint64_t seed = 0;
  int64_t block = 32;        // ROAST block side
  double init_std = 0.01;    // z ~ N(0, init_std^2)
  bool grad_scaler = true;   // the STABLE-RPS scaler
};

// The mapping of one weight tensor: slot and sign per element.
struct LayerMap {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<int32_t> slot;
  std::vector<int8_t> sign;
  float scale = 1;
};

// IDX and G of every shared weight tensor (sizes in order), for m slots. Pure function of its inputs.
std::vector<LayerMap> build_maps(Mapper mapper, const std::vector<std::pair<std::string, std::vector<int64_t>>>& weights, int64_t m,
                                 uint64_t seed, int64_t block = 32);

// Whether a parameter is shared: named *weight with at least two dimensions.
bool is_shared_weight(const std::string& name, const torch::Tensor& p);

class SharedWeights : public nn::WeightGenerator {
 public:
  // Reads the shared tensors' initial std (the per-layer scale) from the module's current weights; z is
  // drawn from the project's generator (the same in every LibTorch version). UsageError for a
  // compression outside (0, 1], a non-positive init_std or block, or a model without shared weights.
  SharedWeights(torch::nn::Module& module, const ShareSpec& spec);
  void load() override;
  void backward() override;
  std::vector<std::pair<std::string, torch::Tensor>> trainable() override;
  std::vector<std::pair<std::string, torch::Tensor>> state() override;

  torch::Tensor& z() { return z_; }
  const ShareSpec& spec() const { return spec_; }
  // Module paths of the parameters outside z and of the buffers.
  const std::vector<std::pair<std::string, torch::Tensor>>& dense_parameters() const { return dense_params_; }
  const std::vector<std::pair<std::string, torch::Tensor>>& buffers() const { return buffer_paths_; }
  int64_t slots() const { return z_.numel(); }
  int64_t shared_count() const { return shared_; }  // weights read from z
  int64_t dense_count() const;                       // parameters outside z (biases, norms)
  const std::vector<LayerMap>& maps() const { return maps_; }
  // z.grad of a weight gradient without the scaler, and the scaler's per-slot divisor (tests).
  const std::vector<float>& scaler() const { return scaler_; }
  // The dense D x m matrix W = M z of the shared weights (tests, small models only).
  torch::Tensor materialize() const;

 private:
  ShareSpec spec_;
  std::vector<std::pair<std::string, torch::Tensor>> shared_params_, dense_params_, buffers_, buffer_paths_;
  std::vector<LayerMap> maps_;
  torch::Tensor z_;
  int64_t shared_ = 0;
  // by slot: the (layer, element, coefficient = scale G) pairs reading it
  std::vector<int64_t> slot_start_;
  std::vector<int32_t> slot_layer_;
  std::vector<int64_t> slot_element_;
  std::vector<float> slot_coef_;
  std::vector<float> scaler_;  // per-slot multiplier of z.grad (1 without the scaler)
  // Per layer: runs of elements reading consecutive slots (empty when runs are too short to pay).
  struct Run {
    int64_t k;
    int32_t slot, length;
  };
  std::vector<std::vector<Run>> runs_;
  struct Piece {
    int32_t layer, length;
    int64_t k, slot;
  };
  std::vector<std::vector<Piece>> pieces_;  // per slot range (backward), when every layer has runs
  // z.grad += zg, and the shared weights' own gradients cleared (the end of both backward paths).
  void finish_backward(const torch::Tensor& zg);
  // On a GPU (kernels/shared.cu): the maps and the scaler copied to z's device on first use.
  void prepare_device();
  std::vector<torch::Tensor> device_slot_, device_sign_;
  torch::Tensor device_scaler_;
};

// A trained shared-weight model stored as seed + z: a safetensors file with z, the dense parameters
// and the buffers (by module path), and in its metadata "paramkit.rps" {"model": ModelSpec, "mapper",
// "slots", "seed", "block", "weights": [{"name", "shape", "scale"}]}: the maps are regenerated from the
// seed, so the file is z plus what is not shared.
void save_compressed(const std::string& path, const SharedWeights& shared, const nn::ModelSpec& model, Metadata metadata);
// The model of such a file with every weight expanded (W = scale G z[IDX]); InputError naming the
// file and field for anything missing or inconsistent.
std::shared_ptr<torch::nn::Module> expand_compressed(const std::string& path, nn::ModelSpec& model,
                                                     std::function<torch::Tensor(torch::Tensor)>& forward);

}  // namespace paramkit::compress
