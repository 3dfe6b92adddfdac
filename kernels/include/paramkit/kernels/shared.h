// GPU gather and scatter-add of randomized parameter sharing (compress/rps.h): W[k] = scale G[k]
// z[slot[k]] and z.grad[slot[k]] += scale G[k] dL/dW[k], then the per-slot gradient scaler. CPU
// reference: compress::SharedWeights on CPU tensors (a per-slot gather instead of atomics).
#pragma once
#include <cstdint>

namespace paramkit::kernels {

// All pointers in device memory; stream: a cudaStream_t (void* to keep CUDA headers out of callers).
void shared_gather(const float* z, const int32_t* slot, const int8_t* sign, float scale, float* w, int64_t n, void* stream);
void shared_scatter_add(const float* grad, const int32_t* slot, const int8_t* sign, float scale, float* z_grad, int64_t n, void* stream);
void scale_by(float* x, const float* factor, int64_t n, void* stream);

}  // namespace paramkit::kernels
