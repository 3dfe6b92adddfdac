// GPU kernels against their CPU references (label: gpu; built only with a CUDA LibTorch).
#include <doctest/doctest.h>

#include <torch/torch.h>

#include <cstring>
#include <map>

#include "helpers.h"
#include "paramkit/torch/state_dict.h"
#include "paramkit/io/tensor_store.h"
#include "paramkit/kernels/decode.h"
#include "paramkit/compress/rps.h"
#include "paramkit/merge/merge_job.h"

using namespace paramkit;

TEST_CASE("GPU decode of every F16/BF16/FP8 code equals the CPU reference, from unaligned sources") {
  REQUIRE(torch::cuda::is_available());
  const std::pair<DType, kernels::SmallFloat> formats[] = {{DType::F16, kernels::SmallFloat::f16}, {DType::BF16, kernels::SmallFloat::bf16},
                                                           {DType::F8_E4M3, kernels::SmallFloat::f8_e4m3}, {DType::F8_E5M2, kernels::SmallFloat::f8_e5m2}};
  for (auto [t, format] : formats) {
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
    kernels::decode_to_f32(static_cast<uint8_t*>(src.data_ptr()) + 1, format, out.data_ptr<float>(), n, nullptr);
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

TEST_CASE("merges on the GPU equal the CPU merges (every method, same masks for seeded ones)") {
  REQUIRE(torch::cuda::is_available());
  auto dir = test::scratch("gpu-merge");
  torch::manual_seed(3);
  std::vector<std::pair<std::string, torch::Tensor>> base = {
      {"a.weight", torch::randn({64, 48})}, {"a.bias", torch::randn({64})}, {"b.weight", torch::randn({10, 64})}};
  save_tensors(dir / "base.safetensors", base, {});
  std::vector<std::string> models;
  for (int i = 0; i < 3; ++i) {
    std::vector<std::pair<std::string, torch::Tensor>> ft;
    for (const auto& [k, v] : base) ft.emplace_back(k, v + 0.1 * torch::randn_like(v));
    models.push_back((dir / ("ft" + std::to_string(i) + ".safetensors")).string());
    save_tensors(models.back(), ft, {});
  }
  for (const std::string m : {"linear", "task_arithmetic", "ties", "dare_linear", "dare_ties", "breadcrumbs", "della",
                              "model_stock", "pcb"}) {
    CAPTURE(m);
    for (const std::string scope : {"global", "per-tensor"}) {
      if (scope == "per-tensor" && m != "pcb") continue;
      merge::MergeJob job;
      job.base = (dir / "base.safetensors").string();
      job.models = models;
      job.params.assign(3, merge::ModelParams{});
      for (auto& p : job.params) p.density = 0.5;
      job.method.method = m;
      job.pcb_scope = scope;
      job.seed = 11;
      job.out = dir / ("cpu-" + m + ".safetensors");
      merge::run_merge(job);
      job.device = "cuda";
      job.out = dir / ("gpu-" + m + ".safetensors");
      merge::run_merge(job);
      auto cpu = open_tensors(dir / ("cpu-" + m + ".safetensors")), gpu = open_tensors(job.out);
      for (const auto& [k, v] : base) {
        CAPTURE(k);
        CHECK(torch::allclose(read_tensor(*cpu, k), read_tensor(*gpu, k), 1e-5, 1e-5));
      }
    }
  }
}

TEST_CASE("shared weights on the GPU (gather, atomic scatter-add, scaler) equal the CPU reference") {
  REQUIRE(torch::cuda::is_available());
  for (auto mapper : {compress::Mapper::hashednet, compress::Mapper::roast, compress::Mapper::rps}) {
    torch::manual_seed(3);
    torch::nn::Sequential cpu(torch::nn::Linear(300, 200), torch::nn::Tanh(), torch::nn::Linear(200, 10));
    torch::nn::Sequential gpu(torch::nn::Linear(300, 200), torch::nn::Tanh(), torch::nn::Linear(200, 10));
    {
      torch::NoGradGuard g;
      for (auto& p : gpu->named_parameters()) p.value().copy_(cpu->named_parameters()[p.key()]);
    }
    gpu->to(torch::kCUDA);
    compress::ShareSpec spec;
    spec.mapper = mapper;
    spec.compression = 0.05;
    compress::SharedWeights sc(*cpu, spec), sg(*gpu, spec);
    sc.load();
    sg.load();
    for (auto& p : cpu->named_parameters()) CHECK(torch::allclose(p.value(), gpu->named_parameters()[p.key()].cpu(), 0, 0));
    const torch::Tensor x = torch::randn({32, 300}), y = torch::randint(0, 10, {32}, torch::kInt64);
    torch::nn::functional::cross_entropy(cpu->forward(x), y).backward();
    torch::nn::functional::cross_entropy(gpu->forward(x.cuda()), y.cuda()).backward();
    sc.backward();
    sg.backward();
    CHECK(torch::allclose(sc.z().grad(), sg.z().grad().cpu(), 1e-4, 1e-6));  // atomics sum in another order
  }
}
