// Seeded random numbers whose streams are identical on every platform and standard library
// (std::uniform_int_distribution and std::shuffle are not).
#pragma once
#include <cstdint>
#include <vector>

namespace paramkit {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0, uint64_t stream = 0);
  uint64_t next_u64();
  // Uniform in [0, n) without modulo bias.
  uint64_t below(uint64_t n);
  // Uniform in [0, 1) with 53 random bits.
  double uniform();
  double normal();
  uint64_t state() const { return s_; }
  void set_state(uint64_t s) { s_ = s; }

 private:
  uint64_t s_;
};

// Fisher-Yates permutation of 0..n-1.
std::vector<int64_t> permutation(int64_t n, Rng& rng);

}  // namespace paramkit
