// Toy mixtures for the low-dimensional studies: `modes` isotropic Gaussians with standard deviation `sd`
// at radius `radius` from the origin, equally weighted. In 2-D the centres sit evenly on a circle (the
// classic 8-Gaussian ring); in more dimensions they are seeded random directions.
#pragma once
#include <torch/torch.h>

#include <cstdint>

namespace paramkit::gen {

struct ToyMixture {
  int64_t dims = 2, modes = 8;
  double radius = 2, sd = 0.1;
  void validate() const;  // UsageError naming the flag
};
torch::Tensor toy_centres(const ToyMixture& m, uint64_t seed);  // [modes, dims] float64
// n points [n, dims] (float64) and each one's mode [n] (int64), from a generator seeded with `seed`
// (the centres from `seed` as well, so every draw with the same seed shares them).
std::pair<torch::Tensor, torch::Tensor> toy_points(const ToyMixture& m, int64_t n, uint64_t seed, uint64_t draw = 0);

}  // namespace paramkit::gen
