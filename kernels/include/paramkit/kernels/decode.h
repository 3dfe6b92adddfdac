// GPU decoding of packed low-precision weights (F16, BF16, F8_E4M3, F8_E5M2) to float32, so that
// checkpoints travel to the GPU at their stored size. CPU reference: paramkit::convert_dtype.
#pragma once
#include <cstdint>

#include "paramkit/io/dtype.h"

namespace paramkit::kernels {

// src: n packed elements of `from` in device memory (any alignment); dst: n floats in device memory.
// stream: a cudaStream_t (void* to keep CUDA headers out of callers).
void decode_to_f32(const void* src, DType from, float* dst, int64_t n, void* stream);

// Whether `from` has a GPU decoder.
bool can_decode(DType from);

}  // namespace paramkit::kernels
