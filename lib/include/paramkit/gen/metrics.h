// Sample-quality measures of pfgm-sample evaluate: the Frechet distance between two feature sets
// (Gaussian fits; FID's formula in the features of a classifier trained here, not Inception), the
// unbiased squared MMD with a Gaussian kernel, the exact 2-Wasserstein distance between point sets
// (optimal transport), a nearest-neighbour precision/recall, and the small CNN whose penultimate
// layer gives image features.
#pragma once
#include <torch/torch.h>

#include <cstdint>

namespace paramkit::gen {

// ||mu_a - mu_b||^2 + tr(C_a + C_b - 2 (C_a^1/2 C_b C_a^1/2)^1/2) of the rows of a [n, d] and b [m, d]
// (float64; covariances with n - 1).
double frechet_distance(const torch::Tensor& a, const torch::Tensor& b);
// Unbiased MMD^2 with k(x, y) = exp(-||x - y||^2 / (2 h^2)); h <= 0: the median pairwise distance of the
// pooled rows. Returns the estimate; `bandwidth_used` (optional) receives h.
double mmd2_rbf(const torch::Tensor& a, const torch::Tensor& b, double h = 0, double* bandwidth_used = nullptr);
// The exact 2-Wasserstein distance between the uniform measures on the rows of a [n, d] and b [m, d]
// (ot::w2: LEMON's network simplex; n x m arcs, so keep n and m in the low thousands).
double w2_exact(const torch::Tensor& a, const torch::Tensor& b);
// Precision: the fraction of samples within the k-NN radius of some reference point; recall: the
// fraction of reference points within the k-NN radius of some sample (Kynkaanniemi et al. 2019).
struct PrecisionRecall {
  double precision = 0, recall = 0;
};
PrecisionRecall knn_precision_recall(const torch::Tensor& samples, const torch::Tensor& reference, int64_t k = 3);

// A small CNN classifier for [C, H, W] images (H, W divisible by 4): two 3x3 convolutions (32, 64
// channels) with 2x2 max pooling, a 128-unit feature layer, the class layer.
class FeatureNetImpl : public torch::nn::Module {
 public:
  FeatureNetImpl(int64_t channels, int64_t height, int64_t width, int64_t classes);
  torch::Tensor features(const torch::Tensor& x);
  torch::Tensor classify(const torch::Tensor& features);  // the class logits of features(x)
  torch::Tensor forward(const torch::Tensor& x);           // classify(features(x))

 private:
  torch::nn::Conv2d c1_{nullptr}, c2_{nullptr};
  torch::nn::Linear fc_{nullptr}, out_{nullptr};
};
TORCH_MODULE(FeatureNet);

}  // namespace paramkit::gen
