// Benchmark helper for scripts/bench/rps.sh: the shared-weight gather (forward: W = scale G z[IDX]) and
// scatter-add (backward: z.grad from dL/dW) of every mapper against memcpy of the same bytes in the same
// run, on a 4096 x 4096 weight (64 MB, beyond the caches); and a training step of a compressed MLP and
// LeNet-5 against the dense step at 1/10 and 1/100 (batch 128, SGD, synthetic MNIST-shaped data).
// With DEVICE cuda, the kernels run on the GPU (kernels/shared.cu) against a device-to-device copy.
//   bench-rps [THREADS] [DEVICE]   prints JSON
#include <fmt/format.h>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "paramkit/compress/rps.h"
#include "paramkit/nn/models.h"
#include "paramkit/nn/optim.h"

using namespace paramkit;

namespace {
double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
template <class F>
double best_of(int reps, F f) {
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    const double t0 = now();
    f();
    best = std::min(best, now() - t0);
  }
  return best;
}
struct OneWeight : torch::nn::Module {
  torch::Tensor weight;
  OneWeight(int64_t n) { weight = register_parameter("weight", torch::randn({n, n}) * 0.01); }
};
}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  const torch::Device device(argc > 2 ? argv[2] : "cpu");
  const bool gpu = device.is_cuda();
  auto sync = [&] {
    if (gpu) torch::cuda::synchronize();
  };
  torch::set_num_threads(threads);
  torch::manual_seed(0);
  std::string out = fmt::format("{{\"threads\": {}, \"device\": \"{}\", \"kernels\": [\n", threads, device.str());
  const int64_t n = 4096;
  const double bytes = 4.0 * n * n;
  std::vector<float> src(static_cast<size_t>(n * n), 1.0f), dst(static_cast<size_t>(n * n));
  torch::Tensor dsrc = torch::ones({n, n}, torch::TensorOptions().device(device)), ddst = torch::empty_like(dsrc);
  const double memcpy_s = gpu ? best_of(5, [&] {
    ddst.copy_(dsrc);
    sync();
  })
                              : best_of(5, [&] { std::memcpy(dst.data(), src.data(), static_cast<size_t>(bytes)); });
  bool first = true;
  for (auto mapper : {compress::Mapper::hashednet, compress::Mapper::roast, compress::Mapper::rps})
    for (double c : {0.1, 0.01}) {
      OneWeight w(n);
      w.to(device);
      compress::ShareSpec spec;
      spec.mapper = mapper;
      spec.compression = c;
      compress::SharedWeights s(w, spec);
      s.load();  // first use copies the maps to the device
      sync();
      const double gather = best_of(5, [&] {
        s.load();
        sync();
      });
      w.weight.mutable_grad() = torch::randn({n, n}, torch::TensorOptions().device(device));
      torch::Tensor g = w.weight.grad();
      const double scatter = best_of(5, [&] {
        w.weight.mutable_grad() = g;
        s.backward();
        sync();
        s.z().mutable_grad().reset();
      });
      out += fmt::format("{}  {{\"mapper\": \"{}\", \"compression\": {}, \"weights\": {}, \"gather_gbs\": {:.2f}, \"scatter_gbs\": {:.2f}, "
                         "\"memcpy_gbs\": {:.2f}, \"gather_vs_memcpy\": {:.3f}, \"scatter_vs_memcpy\": {:.3f}}}",
                         first ? "" : ",\n", compress::mapper_name(mapper), c, n * n, bytes / gather / 1e9, bytes / scatter / 1e9,
                         bytes / memcpy_s / 1e9, memcpy_s / gather, memcpy_s / scatter);
      first = false;
    }
  out += "\n], \"steps\": [\n";
  first = true;
  for (const std::string model : {"mlp", "lenet"}) {
    nn::ModelSpec spec;
    spec.name = model;
    spec.in_shape = {28, 28};
    const torch::Tensor x = torch::rand({128, 28, 28}).to(device), y = torch::randint(0, 10, {128}, torch::kInt64).to(device);
    double dense_ms = 0;
    for (double c : {1.0, 0.1, 0.01}) {
      std::function<torch::Tensor(torch::Tensor)> fwd;
      auto m = nn::build_model(spec, 0, fwd);
      m->to(device);
      std::unique_ptr<compress::SharedWeights> s;
      std::vector<torch::Tensor> params = m->parameters();
      if (c < 1) {
        compress::ShareSpec sp;
        sp.compression = c;
        s = std::make_unique<compress::SharedWeights>(*m, sp);
        params.clear();
        for (auto& [name, t] : s->trainable()) params.push_back(t);
      }
      nn::OptimizerOptions oo;
      oo.name = "sgd";
      oo.lr = 0.01;
      oo.momentum = 0.9;
      auto opt = nn::make_optimizer(oo, params);
      auto step = [&] {
        if (s) s->load();
        opt->zero_grad();
        torch::nn::functional::cross_entropy(fwd(x), y).backward();
        if (s) s->backward();
        opt->step();
        sync();
      };
      for (int i = 0; i < 5; ++i) step();
      const int steps = 50;
      const double t0 = now();
      for (int i = 0; i < steps; ++i) step();
      const double ms = 1000 * (now() - t0) / steps;
      if (c == 1) dense_ms = ms;
      out += fmt::format("{}  {{\"model\": \"{}\", \"compression\": {}, \"method\": \"{}\", \"ms_per_step\": {:.3f}, \"vs_dense\": {:.3f}}}",
                         first ? "" : ",\n", model, c, c == 1 ? "dense" : "rps", ms, ms / dense_ms);
      first = false;
    }
  }
  out += "\n]}\n";
  std::fputs(out.c_str(), stdout);
}
