// CUDA kernels decoding packed F16/BF16/FP8 bytes to float32, bit-exact with paramkit::convert_dtype.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "paramkit/kernels/decode.h"

namespace paramkit::kernels {
namespace {

__device__ __forceinline__ float decode_small(uint32_t v, int e, int m, bool has_inf) {
  uint32_t sign = (v >> (e + m)) & 1u;
  uint32_t exp = (v >> m) & ((1u << e) - 1);
  uint32_t man = v & ((1u << m) - 1);
  int bias = (1 << (e - 1)) - 1;
  float r;
  if (exp == 0) {
    r = ldexpf(static_cast<float>(man), 1 - bias - m);
  } else if (has_inf && exp == (1u << e) - 1) {
    r = man ? __int_as_float(0x7fc00000) : __int_as_float(0x7f800000);
  } else {
    r = ldexpf(static_cast<float>(man | (1u << m)), static_cast<int>(exp) - bias - m);
  }
  return sign ? -r : r;
}

template <int kind>
__global__ void decode_kernel(const uint8_t* __restrict__ src, float* __restrict__ dst, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float out;
    if (kind == 0) {  // F16: byte loads, the source may be unaligned
      uint32_t h = src[2 * i] | (static_cast<uint32_t>(src[2 * i + 1]) << 8);
      out = decode_small(h, 5, 10, true);
    } else if (kind == 1) {  // BF16
      uint32_t h = src[2 * i] | (static_cast<uint32_t>(src[2 * i + 1]) << 8);
      out = __int_as_float(static_cast<int>(h << 16));
    } else if (kind == 2) {  // F8_E4M3 (no inf; S.1111.111 is NaN)
      uint32_t v = src[i];
      out = ((v & 0x7F) == 0x7F) ? __int_as_float(0x7fc00000) : decode_small(v, 4, 3, false);
    } else {  // F8_E5M2
      out = decode_small(src[i], 5, 2, true);
    }
    dst[i] = out;
  }
}

}  // namespace

bool can_decode(DType from) {
  return from == DType::F16 || from == DType::BF16 || from == DType::F8_E4M3 || from == DType::F8_E5M2;
}

void decode_to_f32(const void* src, DType from, float* dst, int64_t n, void* stream) {
  if (n <= 0) return;
  const int threads = 256;
  const int64_t want = (n + threads - 1) / threads;
  const int blocks = static_cast<int>(want < 65535 * 8 ? want : 65535 * 8);
  auto s = static_cast<cudaStream_t>(stream);
  auto b = static_cast<const uint8_t*>(src);
  switch (from) {
    case DType::F16: decode_kernel<0><<<blocks, threads, 0, s>>>(b, dst, n); break;
    case DType::BF16: decode_kernel<1><<<blocks, threads, 0, s>>>(b, dst, n); break;
    case DType::F8_E4M3: decode_kernel<2><<<blocks, threads, 0, s>>>(b, dst, n); break;
    case DType::F8_E5M2: decode_kernel<3><<<blocks, threads, 0, s>>>(b, dst, n); break;
    default: throw std::invalid_argument("decode_to_f32: no GPU decoder for " + std::string(dtype_name(from)));
  }
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) throw std::runtime_error(std::string("decode_to_f32: ") + cudaGetErrorString(err));
}

}  // namespace paramkit::kernels
