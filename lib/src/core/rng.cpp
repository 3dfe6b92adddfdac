// SplitMix64-seeded xoshiro-free generator: SplitMix64 itself, which passes BigCrush and is tiny.
#include "paramkit/core/rng.h"

#include <cmath>

namespace paramkit {

Rng::Rng(uint64_t seed, uint64_t stream) : s_(seed * 0x9E3779B97F4A7C15ULL ^ (stream + 0xD1B54A32D192ED03ULL)) {}

uint64_t Rng::next_u64() {
  uint64_t z = (s_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t Rng::below(uint64_t n) {
  if (n <= 1) return 0;
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = next_u64();
  while (x >= limit);
  return x % n;
}

double Rng::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

double Rng::normal() {
  // Box-Muller, one value per call (keeps the state a single integer).
  double u1;
  do u1 = uniform();
  while (u1 <= 0.0);
  double u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

std::vector<int64_t> permutation(int64_t n, Rng& rng) {
  std::vector<int64_t> p(n);
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  for (int64_t i = n - 1; i > 0; --i) {
    int64_t j = static_cast<int64_t>(rng.below(static_cast<uint64_t>(i) + 1));
    std::swap(p[i], p[j]);
  }
  return p;
}

}  // namespace paramkit
