// A PFGM++ denoiser as a file: what the network is (U-Net for images, MLP for points), the D it was
// trained for, and the map between data and model space (images [0, 1] -> [-1, 1]; points standardised
// to sigma_data per column), saved with the weights (safetensors metadata "paramkit.pfgm") so that
// `sample` rebuilds it. Also the perturbations of the robustness study: relative Gaussian noise on the
// weights, post-training quantisation and Gaussian noise on the denoiser's output.
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "paramkit/gen/pfgm.h"
#include "paramkit/gen/train.h"
#include "paramkit/io/safetensors.h"
#include "paramkit/nn/denoiser.h"

namespace paramkit::gen {

struct DenoiserSpec {
  std::string kind = "unet";          // unet (images [C, H, W]) | mlp (points [dim])
  std::vector<int64_t> shape;         // one example's shape
  nn::UNetOptions unet;               // kind unet (channels = shape[0])
  std::vector<int64_t> hidden = {256, 256, 256};  // kind mlp
  int64_t embedding = 64;             // kind mlp: noise embedding width
  double D = kInfiniteD;              // the D it is trained for
  double sigma_data = 0.5;
  // model = (data - offset) * scale, per column for points (one entry for images).
  std::vector<double> offset = {0.5}, scale = {2.0};
  void validate() const;              // UsageError naming the field
};
nlohmann::json to_json(const DenoiserSpec& s);
DenoiserSpec denoiser_spec_from_json(const nlohmann::json& j, const std::string& source);  // InputError naming source and field
// D as text: "inf" or the number; parse_D accepts "inf"/"infinity"/"edm" or a positive number (UsageError).
std::string format_D(double D);
double parse_D(const std::string& text, const std::string& flag);

struct DenoiserModel {
  DenoiserSpec spec;
  std::shared_ptr<torch::nn::Module> net;
  RawNet f;  // F(x, c_noise)
};
DenoiserModel build_denoiser(const DenoiserSpec& spec);
// Weights and spec (and `metadata`, e.g. provenance) in one safetensors file.
void save_denoiser(const DenoiserModel& m, const std::filesystem::path& path, Metadata metadata);
DenoiserModel load_denoiser(const std::filesystem::path& path);

torch::Tensor to_model_space(const DenoiserSpec& s, const torch::Tensor& data);
torch::Tensor from_model_space(const DenoiserSpec& s, const torch::Tensor& x);
// Offsets and scales that standardise each column of points [M, dim] to mean 0 and std sigma_data.
void fit_point_scaling(DenoiserSpec& s, const torch::Tensor& points);

// theta <- theta + alpha |theta| eps, eps ~ N(0, I) from a generator seeded with `seed`, for every
// parameter (noise relative to each weight's size).
void add_weight_noise(torch::nn::Module& net, double alpha, uint64_t seed);
// Symmetric uniform post-training quantisation of every parameter to `bits` bits with one scale per
// tensor (max |theta| / (2^(bits-1) - 1)); the weights are rounded in place (fake quantisation).
void quantize_weights(torch::nn::Module& net, int bits);
// D(x, sigma) + alpha eps with eps ~ N(0, I) (LibTorch's generator): a denoiser with a modelling error of
// size alpha at every noise level.
Denoiser with_output_noise(Denoiser d, double alpha);

}  // namespace paramkit::gen
