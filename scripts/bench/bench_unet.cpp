// Benchmark helper for scripts/bench/pfgm.sh: pfgm-sample's U-Net on MNIST-shaped images: one EDM
// training step (PFGM++ perturbation at D, preconditioned weighted loss, backward, Adam) in ms, and
// sampling throughput in images/s with EDM's Heun sampler at 18 steps (35 network evaluations).
//   bench-unet BASE MULT BATCH SAMPLE_BATCH THREADS [DEVICE]   (MULT like 1,2,2) prints JSON
#include <fmt/format.h>

#include <chrono>
#include <sstream>
#include <string>

#include "paramkit/gen/pfgm.h"
#include "paramkit/gen/train.h"
#include "paramkit/nn/denoiser.h"

using namespace paramkit;

namespace {
double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    fmt::print(stderr, "usage: bench-unet BASE MULT BATCH SAMPLE_BATCH THREADS [DEVICE]\n");
    return 2;
  }
  nn::UNetOptions o;
  o.base = std::atoi(argv[1]);
  o.mult.clear();
  std::stringstream ss(argv[2]);
  for (std::string t; std::getline(ss, t, ',');) o.mult.push_back(std::stoll(t));
  const int64_t batch = std::atoll(argv[3]), sample_batch = std::atoll(argv[4]);
  const int threads = std::atoi(argv[5]);
  const torch::Device device(argc > 6 ? argv[6] : "cpu");
  auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize();
  };
  torch::set_num_threads(threads);
  torch::manual_seed(0);
  nn::UNet net(o);
  net->to(device);
  int64_t params = 0;
  for (const auto& p : net->parameters()) params += p.numel();
  const gen::RawNet f = [net](const torch::Tensor& x, const torch::Tensor& c) mutable { return net->forward(x, c); };
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(1e-3));
  const torch::Tensor y = (torch::rand({batch, 1, 28, 28}) * 2 - 1).to(device);
  auto step = [&] {
    const torch::Tensor sigma = gen::training_sigmas(batch).to(device);
    const torch::Tensor x = gen::perturb(y, sigma, 128);
    const torch::Tensor w = ((sigma * sigma + 0.25) / (sigma * 0.5).square()).to(torch::kFloat32);
    const torch::Tensor loss = (w * (gen::precondition(f, x, sigma) - y).square().reshape({batch, -1}).mean(1)).mean();
    opt.zero_grad();
    loss.backward();
    opt.step();
    sync();
  };
  net->train();
  for (int i = 0; i < 3; ++i) step();
  const int reps = 10;
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    const double t0 = now();
    step();
    best = std::min(best, now() - t0);
  }
  net->eval();
  const gen::Denoiser base = gen::as_denoiser(f);
  const gen::Denoiser den = [&](const torch::Tensor& x, double s) { return base(x.to(device), s).to(torch::kCPU); };
  gen::SamplerOptions so;
  so.D = 128;
  gen::sample(den, {2, 1, 28, 28}, so);  // warm-up
  sync();
  const double t0 = now();
  gen::sample(den, {sample_batch, 1, 28, 28}, so);
  sync();
  const double ts = now() - t0;
  fmt::print("{{\"impl\": \"paramkit (LibTorch C++)\", \"device\": \"{}\", \"threads\": {}, \"params\": {}, \"batch\": {}, \"train_step_ms\": {:.2f}, "
             "\"sample_batch\": {}, \"sample_s\": {:.3f}, \"images_per_s\": {:.2f}}}\n",
             device.str(), threads, params, batch, 1e3 * best, sample_batch, ts, static_cast<double>(sample_batch) / ts);
  return 0;
}
