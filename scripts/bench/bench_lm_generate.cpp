// Generation speed of paramkit_lm: a random GPT-2-small-like (or Llama-like) model, batch B of random
// prompts, N new tokens greedy with the KV cache. Prints JSON (tokens/s counts generated tokens).
//   bench-lm-generate [gpt2|llama] [batch=16] [prompt=32] [new=128] [threads=2] [layers=12]
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "paramkit/lm/generate.h"

using namespace paramkit::lm;

int main(int argc, char** argv) {
  const std::string arch = argc > 1 ? argv[1] : "gpt2";
  const int64_t B = argc > 2 ? std::stoll(argv[2]) : 16, P = argc > 3 ? std::stoll(argv[3]) : 32,
                N = argc > 4 ? std::stoll(argv[4]) : 128, threads = argc > 5 ? std::stoll(argv[5]) : 2,
                layers = argc > 6 ? std::stoll(argv[6]) : 12;
  torch::set_num_threads(static_cast<int>(threads));
  LmConfig c = arch == "llama" ? LmConfig::llama(32000, 768, 2048, layers, 12, 4, 1024)
                               : LmConfig::gpt2(50257, 768, layers, 12, 1024);
  CausalLM model(c, Head::lm, 0);
  model->eval();
  auto ids = torch::randint(1, c.vocab_size, {B, P}, torch::kLong);
  auto mask = torch::ones({B, P}, torch::kLong);
  GenerateOptions o;
  o.greedy = true;
  o.max_new_tokens = N;
  o.eos_ids = {0};  // never produced by argmax in practice; a row that does stops early
  generate(*model, ids.narrow(1, 0, 4), mask.narrow(1, 0, 4), [&] { auto w = o; w.max_new_tokens = 2; return w; }());
  auto t0 = std::chrono::steady_clock::now();
  auto r = generate(*model, ids, mask, o);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int64_t generated = r.response_mask.sum().item<int64_t>();
  std::printf(
      "{\"bench\": \"lm-generate\", \"arch\": \"%s\", \"layers\": %lld, \"batch\": %lld, \"prompt\": %lld, "
      "\"new_tokens\": %lld, \"threads\": %lld, \"seconds\": %.3f, \"tokens_per_s\": %.1f}\n",
      arch.c_str(), (long long)layers, (long long)B, (long long)P, (long long)r.new_tokens(), (long long)threads, s,
      generated / s);
  return 0;
}
