// GPU kernels against their CPU references (label: gpu; built only with a CUDA LibTorch).
#include <doctest/doctest.h>

#include <torch/torch.h>

#include <cstring>

#include "helpers.h"
#include "paramkit/io/state_dict.h"
#include "paramkit/kernels/decode.h"

using namespace paramkit;

TEST_CASE("GPU decode of every F16/BF16/FP8 code equals the CPU reference, from unaligned sources") {
  REQUIRE(torch::cuda::is_available());
  for (DType t : {DType::F16, DType::BF16, DType::F8_E4M3, DType::F8_E5M2}) {
    const int64_t n = dtype_size(t) == 2 ? 65536 : 256;
    std::vector<uint8_t> bytes(n * dtype_size(t) + 1);
    for (int64_t i = 0; i < n; ++i) {
      if (dtype_size(t) == 2) {
        uint16_t v = static_cast<uint16_t>(i);
        std::memcpy(bytes.data() + 1 + 2 * i, &v, 2);
      } else {
        bytes[1 + i] = static_cast<uint8_t>(i);
      }
    }
    std::vector<float> want(n);
    convert_dtype(bytes.data() + 1, t, want.data(), DType::F32, n);
    torch::Tensor src = torch::from_blob(bytes.data(), {static_cast<int64_t>(bytes.size())}, torch::kUInt8).to(torch::kCUDA);
    torch::Tensor out = torch::empty({n}, torch::TensorOptions().dtype(torch::kFloat32).device(torch::kCUDA));
    kernels::decode_to_f32(static_cast<uint8_t*>(src.data_ptr()) + 1, t, out.data_ptr<float>(), n, nullptr);
    torch::Tensor got = out.cpu();
    int64_t bad = 0;
    for (int64_t i = 0; i < n; ++i) {
      float a = got.data_ptr<float>()[i], b = want[i];
      bad += !(std::memcmp(&a, &b, 4) == 0 || (std::isnan(a) && std::isnan(b)));
    }
    CHECK_MESSAGE(bad == 0, dtype_name(t));
  }
}

TEST_CASE("read_tensor_to decodes stored BF16 and FP8 weights on the GPU") {
  REQUIRE(torch::cuda::is_available());
  auto dir = paramkit::test::scratch("gpu-read");
  torch::Tensor w = torch::randn({300, 70});
  SaveOptions o;
  o.dtype = DType::BF16;
  save_tensors(dir / "bf.safetensors", {{"w", w}}, {}, o);
  o.dtype = DType::F8_E4M3;
  save_tensors(dir / "f8.safetensors", {{"w", w}}, {}, o);
  for (const char* f : {"bf.safetensors", "f8.safetensors"}) {
    auto r = open_tensors(dir / f);
    torch::Tensor gpu = read_tensor_to(*r, "w", torch::kCUDA, DType::F32);
    CHECK(gpu.is_cuda());
    CHECK(torch::equal(gpu.cpu(), read_tensor(*r, "w", DType::F32)));
  }
}
