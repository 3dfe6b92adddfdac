// CUDA gather and scatter-add of randomized parameter sharing; the CPU reference is
// compress::SharedWeights on CPU tensors.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "paramkit/kernels/shared.h"

namespace paramkit::kernels {
namespace {

__global__ void gather_kernel(const float* __restrict__ z, const int32_t* __restrict__ slot, const int8_t* __restrict__ sign, float scale,
                              float* __restrict__ w, int64_t n) {
  for (int64_t k = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; k < n; k += static_cast<int64_t>(gridDim.x) * blockDim.x)
    w[k] = scale * static_cast<float>(sign[k]) * __ldg(z + slot[k]);
}

__global__ void scatter_kernel(const float* __restrict__ g, const int32_t* __restrict__ slot, const int8_t* __restrict__ sign, float scale,
                               float* __restrict__ zg, int64_t n) {
  for (int64_t k = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; k < n; k += static_cast<int64_t>(gridDim.x) * blockDim.x)
    atomicAdd(zg + slot[k], scale * static_cast<float>(sign[k]) * g[k]);
}

__global__ void scale_kernel(float* __restrict__ x, const float* __restrict__ f, int64_t n) {
  for (int64_t k = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; k < n; k += static_cast<int64_t>(gridDim.x) * blockDim.x)
    x[k] *= f[k];
}

int blocks_for(int64_t n) {
  const int64_t b = (n + 255) / 256;
  return static_cast<int>(b < 65535 * 8 ? (b > 0 ? b : 1) : 65535 * 8);
}

void check(const char* what) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

}  // namespace

void shared_gather(const float* z, const int32_t* slot, const int8_t* sign, float scale, float* w, int64_t n, void* stream) {
  if (n <= 0) return;
  gather_kernel<<<blocks_for(n), 256, 0, static_cast<cudaStream_t>(stream)>>>(z, slot, sign, scale, w, n);
  check("shared_gather");
}

void shared_scatter_add(const float* grad, const int32_t* slot, const int8_t* sign, float scale, float* z_grad, int64_t n, void* stream) {
  if (n <= 0) return;
  scatter_kernel<<<blocks_for(n), 256, 0, static_cast<cudaStream_t>(stream)>>>(grad, slot, sign, scale, z_grad, n);
  check("shared_scatter_add");
}

void scale_by(float* x, const float* factor, int64_t n, void* stream) {
  if (n <= 0) return;
  scale_kernel<<<blocks_for(n), 256, 0, static_cast<cudaStream_t>(stream)>>>(x, factor, n);
  check("scale_by");
}

}  // namespace paramkit::kernels
