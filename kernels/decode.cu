// CUDA kernels decoding packed F16/BF16/FP8 bytes to float32, bit-exact with paramkit::convert_dtype.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "paramkit/io/small_float.h"
#include "paramkit/kernels/decode.h"

namespace paramkit::kernels {
namespace {

template <SmallFloat kind>
__global__ void decode_kernel(const uint8_t* __restrict__ src, float* __restrict__ dst, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float out;
    if constexpr (kind == SmallFloat::f16 || kind == SmallFloat::bf16) {
      // Byte loads: the source may be unaligned.
      const uint16_t h = static_cast<uint16_t>(src[2 * i] | (src[2 * i + 1] << 8));
      out = kind == SmallFloat::f16 ? small_float::decode_f16(h) : small_float::decode_bf16(h);
    } else if constexpr (kind == SmallFloat::f8_e4m3) {
      out = small_float::decode_f8e4m3(src[i]);
    } else {
      out = small_float::decode_f8e5m2(src[i]);
    }
    dst[i] = out;
  }
}

}  // namespace

void decode_to_f32(const void* src, SmallFloat from, float* dst, int64_t n, void* stream) {
  if (n <= 0) return;
  const int threads = 256;
  const int64_t want = (n + threads - 1) / threads;
  const int blocks = static_cast<int>(want < 65535 * 8 ? want : 65535 * 8);
  auto s = static_cast<cudaStream_t>(stream);
  auto b = static_cast<const uint8_t*>(src);
  switch (from) {
    case SmallFloat::f16: decode_kernel<SmallFloat::f16><<<blocks, threads, 0, s>>>(b, dst, n); break;
    case SmallFloat::bf16: decode_kernel<SmallFloat::bf16><<<blocks, threads, 0, s>>>(b, dst, n); break;
    case SmallFloat::f8_e4m3: decode_kernel<SmallFloat::f8_e4m3><<<blocks, threads, 0, s>>>(b, dst, n); break;
    case SmallFloat::f8_e5m2: decode_kernel<SmallFloat::f8_e5m2><<<blocks, threads, 0, s>>>(b, dst, n); break;
    default: throw std::invalid_argument("decode_to_f32: unknown SmallFloat " + std::to_string(static_cast<int>(from)));
  }
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) throw std::runtime_error(std::string("decode_to_f32: ") + cudaGetErrorString(err));
}

}  // namespace paramkit::kernels
