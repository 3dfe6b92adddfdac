// GPU decoding of packed low-precision weights (F16, BF16, F8_E4M3, F8_E5M2) to float32, so that
// checkpoints travel to the GPU at their stored size. CPU reference: paramkit::convert_dtype.
#pragma once
#include <cstdint>

namespace paramkit::kernels {

// The formats with a GPU decoder. Kernel-local so that this header does not depend on the io library
// (whose state_dict.cpp calls it); callers map paramkit::DType to it.
enum class SmallFloat { f16, bf16, f8_e4m3, f8_e5m2 };

// src: n packed elements of `from` in device memory (any alignment); dst: n floats in device memory.
// stream: a cudaStream_t (void* to keep CUDA headers out of callers).
void decode_to_f32(const void* src, SmallFloat from, float* dst, int64_t n, void* stream);

}  // namespace paramkit::kernels
