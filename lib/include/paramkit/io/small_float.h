// Decoding of the small float formats (F16, BF16, F8_E4M3, F8_E5M2) to float32, header-only and
// dependency-free so that the CPU path (dtype.cpp) and the CUDA kernels (kernels/decode.cu) share one copy.
#pragma once
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define PARAMKIT_HD __host__ __device__ __forceinline__
#else
#define PARAMKIT_HD inline
#endif

namespace paramkit::small_float {

PARAMKIT_HD float bits_to_f32(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

PARAMKIT_HD uint32_t f32_to_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}

constexpr uint32_t kQuietNaN = 0x7FC00000u;  // the NaN every decoder returns (sign copied from the code)
constexpr uint32_t kInf = 0x7F800000u;

// Float32 bits of an IEEE-like code with E exponent bits and M mantissa bits (sign in bit E + M).
// HasInf: the all-ones exponent means inf (mantissa 0) or NaN; otherwise it is an ordinary binade.
// Every such value is exact in float32, so the result is built from bits; subnormals are the mantissa
// times 2^(1 - bias - M), itself an exact float32 product.
template <int E, int M, bool HasInf>
PARAMKIT_HD uint32_t decode_bits(uint32_t v) {
  static_assert(E >= 2 && E <= 8 && M >= 0 && M <= 23, "format does not widen exactly to float32");
  constexpr int kBias = (1 << (E - 1)) - 1;
  constexpr uint32_t kExpMax = (1u << E) - 1;
  const uint32_t sign = ((v >> (E + M)) & 1u) << 31;
  const uint32_t exp = (v >> M) & kExpMax;
  const uint32_t man = v & ((1u << M) - 1);
  if (exp == 0) {
    constexpr uint32_t kScale = static_cast<uint32_t>(127 + 1 - kBias - M) << 23;  // 2^(1 - bias - M)
    return sign | f32_to_bits(static_cast<float>(man) * bits_to_f32(kScale));
  }
  if (HasInf && exp == kExpMax) return sign | (man ? kQuietNaN : kInf);
  return sign | ((exp - kBias + 127) << 23) | (man << (23 - M));
}

PARAMKIT_HD float decode_f16(uint16_t h) { return bits_to_f32(decode_bits<5, 10, true>(h)); }
PARAMKIT_HD float decode_bf16(uint16_t h) { return bits_to_f32(static_cast<uint32_t>(h) << 16); }
// E4M3 ("FN"): no infinities; S.1111.111 is NaN (returned positive), max 448.
PARAMKIT_HD float decode_f8e4m3(uint8_t v) {
  return (v & 0x7Fu) == 0x7Fu ? bits_to_f32(kQuietNaN) : bits_to_f32(decode_bits<4, 3, false>(v));
}
PARAMKIT_HD float decode_f8e5m2(uint8_t v) { return bits_to_f32(decode_bits<5, 2, true>(v)); }

}  // namespace paramkit::small_float
