// Training speed of paramkit_lm: SFT steps (forward, next-token cross-entropy, backward, AdamW) of a
// random GPT-2-like CausalLM on random token batches. Prints JSON: tokens/s over the timed steps (the
// first, untimed step allocates the optimizer state) and the mean seconds of each phase.
//   bench-lm-train [layers=12] [hidden=768] [heads=12] [batch=8] [seq=128] [steps=3] [threads=2] [vocab=50257]
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "paramkit/lm/model.h"

using namespace paramkit::lm;

int main(int argc, char** argv) {
  auto arg = [&](int i, int64_t d) { return argc > i ? std::stoll(argv[i]) : d; };
  const int64_t L = arg(1, 12), H = arg(2, 768), nh = arg(3, 12), B = arg(4, 8), T = arg(5, 128), steps = arg(6, 3),
                threads = arg(7, 2), V = arg(8, 50257);
  torch::set_num_threads(static_cast<int>(threads));
  torch::manual_seed(0);
  CausalLM model(LmConfig::gpt2(V, H, L, nh, 1024), Head::lm, 0);
  model->train();
  int64_t n_params = 0;
  for (const auto& p : model->parameters()) n_params += p.numel();
  torch::optim::AdamW opt(model->parameters(), torch::optim::AdamWOptions(1e-4).weight_decay(0.01));
  using clock = std::chrono::steady_clock;
  auto secs = [](clock::time_point a, clock::time_point b) { return std::chrono::duration<double>(b - a).count(); };
  double fwd = 0, bwd = 0, step = 0, total = 0, loss_last = 0;
  for (int64_t s = 0; s <= steps; ++s) {
    auto ids = torch::randint(0, V, {B, T}, torch::kLong);
    const auto t0 = clock::now();
    opt.zero_grad();
    auto logits = model->forward(ids);
    auto loss = torch::nn::functional::cross_entropy(logits.slice(1, 0, -1).reshape({-1, V}), ids.slice(1, 1).reshape(-1));
    const auto t1 = clock::now();
    loss.backward();
    const auto t2 = clock::now();
    opt.step();
    const auto t3 = clock::now();
    loss_last = loss.item<double>();
    if (s == 0) continue;  // warm-up: optimizer state, allocator
    fwd += secs(t0, t1), bwd += secs(t1, t2), step += secs(t2, t3), total += secs(t0, t3);
  }
  const double n = static_cast<double>(steps);
  std::printf(
      "{\"bench\": \"lm-train\", \"arch\": \"gpt2\", \"layers\": %lld, \"hidden\": %lld, \"heads\": %lld, \"vocab\": %lld, "
      "\"parameters\": %lld, \"batch\": %lld, \"seq\": %lld, \"steps\": %lld, \"threads\": %lld, \"seconds_per_step\": %.3f, "
      "\"forward_s\": %.3f, \"backward_s\": %.3f, \"optimizer_s\": %.3f, \"tokens_per_s\": %.1f, \"loss\": %.4f}\n",
      (long long)L, (long long)H, (long long)nh, (long long)V, (long long)n_params, (long long)B, (long long)T,
      (long long)steps, (long long)threads, total / n, fwd / n, bwd / n, step / n, static_cast<double>(B * T) * n / total,
      loss_last);
  return 0;
}
