// Our F16/BF16 conversions agree bit for bit with LibTorch's (an independent implementation).
#include <doctest/doctest.h>

#include <torch/torch.h>

#include "paramkit/core/error.h"
#include "paramkit/io/dtype.h"
#include "paramkit/torch/state_dict.h"

using namespace paramkit;

TEST_CASE("f16 and bf16 encoding matches LibTorch on random and edge values") {
  torch::manual_seed(1);
  torch::Tensor x = torch::cat({torch::randn({20000}) * 100, torch::randn({20000}) * 1e-5, torch::rand({20000}) * 70000,
                                torch::tensor({0.0f, -0.0f, 65504.0f, 65519.0f, 65520.0f, 1e-8f, 5.96e-8f})});
  const float* xs = x.data_ptr<float>();
  torch::Tensor h = x.to(torch::kHalf);
  torch::Tensor bf = x.to(torch::kBFloat16);
  const uint16_t* hs = reinterpret_cast<const uint16_t*>(h.data_ptr());
  const uint16_t* bs = reinterpret_cast<const uint16_t*>(bf.data_ptr());
  int64_t bad_h = 0, bad_b = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    bad_h += f32_to_f16(xs[i]) != hs[i];
    bad_b += f32_to_bf16(xs[i]) != bs[i];
  }
  CHECK(bad_h == 0);
  CHECK(bad_b == 0);
  // Decoding every code matches LibTorch's widening.
  torch::Tensor codes = torch::arange(0, 65536, torch::kInt32).to(torch::kInt16);
  torch::Tensor hf = codes.view(torch::kHalf).to(torch::kFloat);
  torch::Tensor bff = codes.view(torch::kBFloat16).to(torch::kFloat);
  int64_t bad_dh = 0, bad_db = 0;
  for (int64_t i = 0; i < 65536; ++i) {
    float a = f16_to_f32(static_cast<uint16_t>(i)), b = hf[i].item<float>();
    bad_dh += !(a == b || (std::isnan(a) && std::isnan(b)));
    float c = bf16_to_f32(static_cast<uint16_t>(i)), d = bff[i].item<float>();
    bad_db += !(c == d || (std::isnan(c) && std::isnan(d)));
  }
  CHECK(bad_dh == 0);
  CHECK(bad_db == 0);
}

TEST_CASE("dtype mapping to LibTorch") {
  CHECK((to_torch_dtype(DType::BF16) == torch::kBFloat16));
  CHECK(from_torch_dtype(torch::kInt64) == DType::I64);
  CHECK_THROWS_AS(to_torch_dtype(DType::F8_E4M3), paramkit::UsageError);
}
