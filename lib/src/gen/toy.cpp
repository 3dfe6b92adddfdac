// Toy Gaussian mixtures.
#include "paramkit/gen/toy.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include <cmath>

#include "paramkit/core/error.h"

namespace paramkit::gen {

void ToyMixture::validate() const {
  if (dims < 1 || dims > 4096) throw UsageError(fmt::format("--dims {} is outside [1, 4096]", dims));
  if (modes < 1 || modes > 100000) throw UsageError(fmt::format("--modes {} is outside [1, 100000]", modes));
  if (!(radius >= 0) || !std::isfinite(radius) || radius > 1e6) throw UsageError("--radius must be in [0, 1e6]");
  if (!(sd > 0) || !std::isfinite(sd) || sd > 1e6) throw UsageError("--sd must be in (0, 1e6]");
}

torch::Tensor toy_centres(const ToyMixture& m, uint64_t seed) {
  m.validate();
  if (m.dims == 2) {
    const torch::Tensor a = torch::arange(m.modes, torch::kFloat64) * (2 * M_PI / static_cast<double>(m.modes));
    return m.radius * torch::stack({a.cos(), a.sin()}, 1);
  }
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed ^ 0x9e3779b97f4a7c15ULL);
  torch::Tensor d = at::normal(0.0, 1.0, {m.modes, m.dims}, gen, torch::TensorOptions().dtype(torch::kFloat64));
  if (m.dims == 1) d = d.sign();
  return m.radius * d / d.norm(2, 1, true).clamp_min(1e-12);
}

std::pair<torch::Tensor, torch::Tensor> toy_points(const ToyMixture& m, int64_t n, uint64_t seed, uint64_t draw) {
  if (n < 1 || n > 100000000) throw UsageError(fmt::format("-n {} is outside [1, 1e8]", n));
  const torch::Tensor c = toy_centres(m, seed);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed * 1000003ULL + draw + 1);
  const torch::Tensor mode = at::randint(m.modes, {n}, gen, torch::TensorOptions().dtype(torch::kInt64));
  const torch::Tensor noise = at::normal(0.0, m.sd, {n, m.dims}, gen, torch::TensorOptions().dtype(torch::kFloat64));
  return {c.index_select(0, mode) + noise, mode};
}

}  // namespace paramkit::gen
