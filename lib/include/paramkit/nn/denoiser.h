// Denoiser networks for diffusion-family models (pfgm-sample): a Fourier embedding of the noise level and
// an MLP F(x, c_noise) for low-dimensional data, and an exponential moving average of a module's weights.
// The preconditioning D(x, sigma) = c_skip x + c_out F(c_in x, c_noise) lives in gen/ (EDM's).
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace paramkit::nn {

// Random Fourier features of a scalar: [cos(2 pi f c), sin(2 pi f c)], f ~ N(0, scale^2) fixed at
// construction (a buffer), `channels` outputs (even).
class FourierEmbeddingImpl : public torch::nn::Module {
 public:
  FourierEmbeddingImpl(int64_t channels, double scale = 16);
  torch::Tensor forward(const torch::Tensor& c);  // c [B] -> [B, channels]
  torch::Tensor freqs;
};
TORCH_MODULE(FourierEmbedding);

// F(x, c_noise) for x [B, dim]: the embedding (Fourier scale 1: c_noise = ln(sigma) / 4 spans a few units)
// through two linear layers is added to every hidden layer
// (SiLU activations); the output layer starts at zero, so D(x, sigma) starts at c_skip x.
class MlpDenoiserImpl : public torch::nn::Module {
 public:
  MlpDenoiserImpl(int64_t dim, std::vector<int64_t> hidden = {256, 256, 256}, int64_t embedding = 64);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& c_noise);

 private:
  FourierEmbedding emb_{nullptr};
  torch::nn::Linear emb1_{nullptr}, emb2_{nullptr}, out_{nullptr};
  std::vector<torch::nn::Linear> layers_, cond_;
};
TORCH_MODULE(MlpDenoiser);

struct UNetOptions {
  int64_t channels = 1;                  // image channels
  int64_t base = 32;                     // channels at full resolution
  std::vector<int64_t> mult = {1, 2, 2}; // channel multipliers per level (each level after the first halves H, W)
  int64_t blocks = 1;                    // residual blocks per level
  int64_t embedding = 128;
  void validate() const;                 // UsageError naming the field
};

// A small U-Net in the EDM / DDPM++ style: residual blocks (group norm, SiLU, 3x3 convolutions, the noise
// embedding added per channel), self-attention at the lowest resolution (the last level's blocks and the
// middle; none with a single level), strided-convolution downsampling,
// nearest upsampling with skip connections; the output convolution starts at zero.
class UNetImpl : public torch::nn::Module {
 public:
  explicit UNetImpl(const UNetOptions& o);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& c_noise);  // x [B, C, H, W] (H, W divisible by 2^(levels-1))
  const UNetOptions& options() const { return o_; }

 private:
  struct Block;
  UNetOptions o_;
  FourierEmbedding emb_{nullptr};
  torch::nn::Linear emb1_{nullptr}, emb2_{nullptr};
  torch::nn::Conv2d stem_{nullptr}, out_{nullptr};
  torch::nn::GroupNorm out_norm_{nullptr};
  torch::nn::ModuleList enc_, dec_, down_, up_, mid_;
};
TORCH_MODULE(UNet);

// An exponential moving average of a module's parameters: shadow = decay shadow + (1 - decay) theta after
// each update; copy_to writes the shadow into a module of the same structure. With the update's step
// (0-based) the decay ramps up as min(decay, (1 + step) / (10 + step)), so that a short run's average is
// not dominated by its initial weights (EDM ramps its EMA half-life up in the same spirit).
class Ema {
 public:
  Ema(const torch::nn::Module& module, double decay);
  void update(const torch::nn::Module& module, int64_t step = -1);
  void copy_to(torch::nn::Module& module) const;
  std::vector<torch::Tensor>& shadow() { return shadow_; }
  double decay() const { return decay_; }

 private:
  std::vector<torch::Tensor> shadow_;
  double decay_;
};

}  // namespace paramkit::nn
