// GPU benchmark (CUDA builds only): decoding packed weights to float32 with kernels/decode.cu against
// LibTorch's own dtype conversion on the same GPU and the CPU reference, and loading a BF16 checkpoint
// to the GPU as F32 (decode on GPU vs convert on CPU then copy). Prints JSON.
#include <ATen/cuda/CUDAContext.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "paramkit/torch/state_dict.h"
#include "paramkit/kernels/decode.h"

using namespace paramkit;
using clk = std::chrono::steady_clock;

namespace {
template <class F>
double best_seconds(F&& f, int reps) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    torch::cuda::synchronize();
    auto t0 = clk::now();
    f();
    torch::cuda::synchronize();
    best = std::min(best, std::chrono::duration<double>(clk::now() - t0).count());
  }
  return best;
}
}  // namespace

int main(int argc, char** argv) {
  const int64_t n = argc > 1 ? std::atoll(argv[1]) : (int64_t(1) << 28);
  const std::string dir = argc > 2 ? argv[2] : "/tmp";
  nlohmann::json out;
  out["elements"] = n;
  out["device"] = torch::cuda::is_available() ? "cuda" : "none";
  torch::Tensor bits = torch::randn({n}, torch::kCUDA).to(torch::kHalf);
  torch::Tensor dst = torch::empty({n}, torch::TensorOptions().dtype(torch::kFloat32).device(torch::kCUDA));
  auto stream = at::cuda::getCurrentCUDAStream().stream();
  double ours = best_seconds([&] { kernels::decode_to_f32(bits.data_ptr(), kernels::SmallFloat::f16, dst.data_ptr<float>(), n, stream); }, 5);
  double theirs = best_seconds([&] { dst.copy_(bits); }, 5);
  bool same = torch::equal(dst, bits.to(torch::kFloat));
  const double bytes_moved = n * 6.0;  // 2 read + 4 written
  out["f16_decode"] = {{"paramkit_kernel_s", ours}, {"libtorch_copy_s", theirs}, {"paramkit_gb_per_s", bytes_moved / ours / 1e9},
                       {"libtorch_gb_per_s", bytes_moved / theirs / 1e9}, {"equal", same}};
  // FP8 has no LibTorch conversion in 1.13; compare with the CPU reference throughput on 16M elements.
  torch::Tensor f8 = torch::randint(0, 256, {n}, torch::TensorOptions().dtype(torch::kUInt8).device(torch::kCUDA));
  double f8_gpu = best_seconds([&] { kernels::decode_to_f32(f8.data_ptr(), kernels::SmallFloat::f8_e4m3, dst.data_ptr<float>(), n, stream); }, 5);
  const int64_t m = std::min<int64_t>(n, 1 << 24);
  torch::Tensor f8_cpu = f8.slice(0, 0, m).cpu();
  std::vector<float> ref(m);
  auto t0 = clk::now();
  convert_dtype(f8_cpu.data_ptr(), DType::F8_E4M3, ref.data(), DType::F32, m);
  double cpu_s = std::chrono::duration<double>(clk::now() - t0).count();
  out["f8_e4m3_decode"] = {{"gpu_elements_per_s", n / f8_gpu}, {"cpu_reference_elements_per_s", m / cpu_s}};
  // Loading a BF16 checkpoint to the GPU as F32.
  const int64_t rows = std::max<int64_t>(1, n / 4096 / 2);
  torch::Tensor w = torch::randn({rows, 4096});
  SaveOptions so;
  so.dtype = DType::BF16;
  save_tensors(dir + "/bench-bf16.safetensors", {{"w", w}}, {}, so);
  auto reader = open_tensors(dir + "/bench-bf16.safetensors");
  torch::Tensor a, b;
  double gpu_decode = best_seconds([&] { a = read_tensor_to(*reader, "w", torch::kCUDA, DType::F32); }, 3);
  double cpu_convert = best_seconds([&] { b = read_tensor(*reader, "w", DType::F32).to(torch::kCUDA); }, 3);
  out["load_bf16_as_f32_to_gpu"] = {{"bytes_f32", rows * 4096 * 4}, {"decode_on_gpu_s", gpu_decode},
                                    {"convert_on_cpu_then_copy_s", cpu_convert}, {"equal", torch::equal(a, b)}};
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}
