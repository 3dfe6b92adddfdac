// Benchmark helper for scripts/bench/widenet.sh: an MoE layer's forward + backward in tokens/s with
// index dispatch (nn::Moe::forward) against the dense one-hot-einsum dispatch (forward_dense) and against
// a dense FFN of the same active FLOPs (hidden k x h: each token goes through k experts of width h), in
// the same run; and a training step (AdamW) of WideNet against ViT at the same depth and width on
// MNIST-shaped batches.
//   bench-moe [THREADS] [DEVICE]   prints JSON
#include <fmt/format.h>

#include <chrono>
#include <string>

#include "paramkit/nn/moe.h"
#include "paramkit/nn/optim.h"
#include "paramkit/nn/vit.h"

using namespace paramkit;

namespace {
double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
// The best of `reps` calls after a warm-up call: the least-disturbed repetition.
template <class F>
double best_of(int reps, F f) {
  f();
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    const double t0 = now();
    f();
    best = std::min(best, now() - t0);
  }
  return best;
}
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
  std::string out = fmt::format("{{\"threads\": {}, \"device\": \"{}\", \"moe\": [\n", threads, device.str());
  struct Shape {
    int64_t tokens, dim, hidden, experts, k;
  };
  bool first = true;
  for (const Shape s : {Shape{2176, 64, 256, 4, 2}, Shape{2048, 256, 1024, 8, 2}, Shape{4096, 128, 512, 16, 1}}) {
    nn::MoeOptions o;
    o.dim = s.dim;
    o.hidden = s.hidden;
    o.experts = s.experts;
    o.top_k = s.k;
    nn::Moe moe(o);
    nn::FeedForward ffn(s.dim, s.k * s.hidden);
    moe->to(device);
    ffn->to(device);
    const torch::Tensor x = torch::randn({s.tokens, s.dim}, torch::TensorOptions().device(device)).requires_grad_(true);
    auto run_moe = [&](bool dense) {
      moe->zero_grad();
      nn::MoeOutput r = dense ? moe->forward_dense(x) : moe->forward(x);
      (r.y.square().mean() + r.balance).backward();
      sync();
    };
    auto run_ffn = [&] {
      ffn->zero_grad();
      ffn->forward(x).square().mean().backward();
      sync();
    };
    // Interleaved repetitions (index, one-hot, dense FFN, index, ...), the best of each: the three see
    // the same machine state (caches, clock, allocator).
    run_moe(false), run_moe(true), run_ffn();
    double t_index = 1e30, t_dense = 1e30, t_ffn = 1e30;
    for (int rep = 0; rep < 9; ++rep) {
      double t0 = now();
      run_moe(false);
      t_index = std::min(t_index, now() - t0);
      t0 = now();
      run_moe(true);
      t_dense = std::min(t_dense, now() - t0);
      t0 = now();
      run_ffn();
      t_ffn = std::min(t_ffn, now() - t0);
    }
    const double tok = static_cast<double>(s.tokens);
    out += fmt::format(
        "{}  {{\"tokens\": {}, \"dim\": {}, \"hidden\": {}, \"experts\": {}, \"top_k\": {}, \"index_tokens_per_s\": {:.0f}, "
        "\"onehot_tokens_per_s\": {:.0f}, \"dense_ffn_tokens_per_s\": {:.0f}, \"index_vs_onehot\": {:.2f}, \"index_time_vs_dense_ffn\": {:.2f}}}",
        first ? "" : ",\n", s.tokens, s.dim, s.hidden, s.experts, s.k, tok / t_index, tok / t_dense, tok / t_ffn, t_dense / t_index,
        t_index / t_ffn);
    first = false;
  }
  out += "\n], \"train_step\": [\n";
  first = true;
  for (int64_t depth : {6, 12}) {
    double t_vit = 0;
    for (const char* kind : {"vit", "vit-moe", "widenet"}) {
      nn::VitOptions o = nn::VitOptions::for_kind(kind);
      o.depth = depth;
      nn::VisionTransformer m(o);
      m->to(device);
      nn::OptimizerOptions oo;
      oo.name = "adamw";
      oo.lr = 1e-3;
      std::vector<torch::Tensor> params = m->parameters();
      auto opt = nn::make_optimizer(oo, params);
      const torch::Tensor x = torch::rand({128, 1, 28, 28}, torch::TensorOptions().device(device));
      const torch::Tensor y = torch::randint(0, 10, {128}, torch::TensorOptions().dtype(torch::kInt64).device(device));
      const double t = best_of(5, [&] {
        opt->zero_grad();
        (torch::nn::functional::cross_entropy(m->forward(x), y) + m->aux_loss()).backward();
        opt->step();
        sync();
      });
      if (std::string(kind) == "vit") t_vit = t;
      int64_t trainable = 0;
      for (const auto& p : params) trainable += p.numel();
      out += fmt::format("{}  {{\"model\": \"{}\", \"depth\": {}, \"width\": {}, \"batch\": 128, \"trainable\": {}, \"step_s\": {:.4f}, \"vs_vit\": {:.2f}}}",
                         first ? "" : ",\n", kind, depth, o.width, trainable, t, t / t_vit);
      first = false;
    }
  }
  out += "\n]}\n";
  fmt::print("{}", out);
  return 0;
}
