// Batched KV-cached generation: left-padded prompts, greedy or temperature/top-k/top-p sampling from
// an own seeded generator, per-row stop at EOS.
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"
#include "paramkit/lm/generate.h"

namespace paramkit::lm {

void GenerateOptions::validate() const {
  if (max_new_tokens < 1) throw UsageError("--max-new-tokens: must be at least 1, got " + std::to_string(max_new_tokens));
  if (!greedy && !(temperature > 0 && std::isfinite(temperature)))
    throw UsageError("--temperature: must be positive, got " + short_number(temperature));
  if (top_k < 0) throw UsageError("--top-k: must be 0 (off) or positive, got " + std::to_string(top_k));
  if (!(top_p > 0 && top_p <= 1)) throw UsageError("--top-p: must be in (0, 1], got " + short_number(top_p));
}

int64_t pad_id(const LmConfig& c, const GenerateOptions& o) {
  const std::vector<int64_t>& eos = o.eos_ids.empty() ? c.eos_token_ids : o.eos_ids;
  return o.pad_id >= 0 ? o.pad_id : c.pad_token_id ? *c.pad_token_id : !eos.empty() ? eos[0] : 0;
}

std::pair<torch::Tensor, torch::Tensor> left_pad(const std::vector<std::vector<int64_t>>& prompts, int64_t pad_id) {
  if (prompts.empty()) throw UsageError("generate: no prompts");
  size_t P = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (prompts[i].empty()) throw UsageError("generate: prompt " + std::to_string(i) + " is empty");
    P = std::max(P, prompts[i].size());
  }
  const int64_t B = static_cast<int64_t>(prompts.size());
  auto ids = torch::full({B, static_cast<int64_t>(P)}, pad_id, torch::kLong);
  auto mask = torch::zeros({B, static_cast<int64_t>(P)}, torch::kLong);
  auto ia = ids.accessor<int64_t, 2>();
  auto ma = mask.accessor<int64_t, 2>();
  for (int64_t b = 0; b < B; ++b) {
    const auto& p = prompts[b];
    const size_t off = P - p.size();
    for (size_t t = 0; t < p.size(); ++t) {
      ia[b][off + t] = p[t];
      ma[b][off + t] = 1;
    }
  }
  return {ids, mask};
}

namespace {

// Next tokens and their log-probabilities from logits [B,V] (float32).
std::pair<torch::Tensor, torch::Tensor> choose(const torch::Tensor& logits, const GenerateOptions& o, at::Generator& gen) {
  if (o.greedy) {
    auto tok = logits.argmax(-1, true);
    return {tok.squeeze(1), torch::log_softmax(logits, -1).gather(1, tok).squeeze(1)};
  }
  const double neg_inf = -std::numeric_limits<double>::infinity();
  auto l = o.temperature == 1.0 ? logits : logits / o.temperature;
  const int64_t V = l.size(-1);
  if (o.top_k > 0 && o.top_k < V) {
    auto kth = std::get<0>(l.topk(o.top_k, -1)).narrow(1, o.top_k - 1, 1);
    l = l.masked_fill(l < kth, neg_inf);
  }
  if (o.top_p < 1.0) {
    auto [sorted, idx] = l.sort(-1, /*descending=*/true);
    auto probs = torch::softmax(sorted, -1);
    // Keep the most likely tokens until their mass reaches top_p (the first one always).
    auto before = probs.cumsum(-1) - probs;
    sorted = sorted.masked_fill(before >= o.top_p, neg_inf);
    l = torch::full_like(l, neg_inf).scatter(1, idx, sorted);
  }
  auto logp = torch::log_softmax(l, -1);
  // Drawn on the CPU from the own generator: the same tokens on every device for a seed.
  auto tok = torch::multinomial(logp.exp().to(torch::kCPU), 1, false, gen).to(logits.device());
  return {tok.squeeze(1), logp.gather(1, tok).squeeze(1)};
}

}  // namespace

namespace {
// A whole model on one device: KV-cached, or recomputing the sequence every step.
struct ModelDecoder : Decoder {
  ModelDecoder(CausalLMImpl& m, bool cached) : model(m), use_cache(cached) {}
  void start(int64_t batch, int64_t capacity) override {
    if (use_cache) cache = model.make_cache(batch, capacity);
  }
  torch::Tensor next_logits(const torch::Tensor& seq, int64_t fresh, const torch::Tensor& mask) override {
    const torch::Tensor h = use_cache ? model.hidden_states(seq.narrow(1, seq.size(1) - fresh, fresh), mask, &cache)
                                      : model.hidden_states(seq, mask);
    return model.head_output(h.select(1, h.size(1) - 1));
  }
  CausalLMImpl& model;
  bool use_cache;
  KvCache cache;
};
}  // namespace

GenerateResult generate(CausalLMImpl& model, const torch::Tensor& prompt_ids, const torch::Tensor& prompt_mask,
                        const GenerateOptions& o) {
  if (model.head() != Head::lm) throw UsageError("generate: the model has a score head, not an LM head");
  ModelDecoder d(model, o.use_cache);
  return generate(d, model.config(), model.device(), prompt_ids, prompt_mask, o);
}

GenerateResult generate(Decoder& decoder, const LmConfig& c, c10::Device dev, const torch::Tensor& prompt_ids,
                        const torch::Tensor& prompt_mask, const GenerateOptions& o) {
  o.validate();
  TORCH_CHECK(prompt_ids.dim() == 2 && prompt_mask.sizes() == prompt_ids.sizes(),
              "generate: ids and attention_mask must both be [B, P]");
  const int64_t B = prompt_ids.size(0), P = prompt_ids.size(1), N = o.max_new_tokens;
  if (P + N > c.max_positions)
    throw UsageError("--max-new-tokens: prompt length " + std::to_string(P) + " + " + std::to_string(N) +
                     " new tokens exceeds the model's " + std::to_string(c.max_positions) + " positions");
  std::vector<int64_t> eos = o.eos_ids.empty() ? c.eos_token_ids : o.eos_ids;
  for (int64_t e : eos)
    if (e < 0 || e >= c.vocab_size) throw UsageError("generate: EOS id " + std::to_string(e) + " is outside the vocabulary");
  const int64_t pad = pad_id(c, o);
  torch::NoGradGuard ng;
  const auto lopt = torch::TensorOptions().dtype(torch::kLong).device(dev);
  auto seq = torch::full({B, P + N}, pad, lopt);
  auto am = torch::zeros({B, P + N}, lopt);
  seq.narrow(1, 0, P).copy_(prompt_ids);
  am.narrow(1, 0, P).copy_(prompt_mask);
  TORCH_CHECK(am.select(1, P - 1).all().item<bool>(), "generate: every prompt must end with a token (left padding)");
  auto resp = torch::zeros({B, N}, lopt);
  auto lps = torch::zeros({B, N}, lopt.dtype(torch::kFloat));
  auto finished = torch::zeros({B}, lopt.dtype(torch::kBool));
  auto eos_t = torch::tensor(eos, torch::kLong).to(dev);
  decoder.start(B, P + N);
  at::Generator gen = at::detail::createCPUGenerator(o.seed);
  int64_t n = 0;
  for (int64_t step = 0; step < N; ++step) {
    check_stop();
    const int64_t len = P + step;
    auto logits = decoder.next_logits(seq.narrow(1, 0, len), step == 0 ? P : 1, am.narrow(1, 0, len));
    auto [tok, lp] = choose(logits, o, gen);
    auto alive = finished.logical_not();
    tok = tok.masked_fill(finished, pad);
    seq.select(1, len).copy_(tok);
    am.select(1, len).copy_(alive);
    resp.select(1, step).copy_(alive);
    lps.select(1, step).copy_(lp.masked_fill(finished, 0.0));
    if (eos_t.numel() > 0) finished = finished.logical_or(alive.logical_and((tok.unsqueeze(1) == eos_t).any(1)));
    n = step + 1;
    if (eos_t.numel() > 0 && finished.all().item<bool>()) break;
  }
  GenerateResult r;
  r.prompt_length = P;
  r.sequences = seq.narrow(1, 0, P + n).contiguous();
  r.attention_mask = am.narrow(1, 0, P + n).contiguous();
  r.response_mask = resp.narrow(1, 0, n).contiguous();
  if (o.logprobs) r.logprobs = lps.narrow(1, 0, n).contiguous();
  return r;
}

GenerateResult generate(CausalLMImpl& model, const std::vector<std::vector<int64_t>>& prompts, const GenerateOptions& o) {
  const auto& c = model.config();
  const int64_t pad = pad_id(c, o);
  for (size_t i = 0; i < prompts.size(); ++i)
    for (int64_t t : prompts[i])
      if (t < 0 || t >= c.vocab_size)
        throw UsageError("generate: prompt " + std::to_string(i) + " holds token " + std::to_string(t) +
                         " outside the vocabulary of " + std::to_string(c.vocab_size));
  auto [ids, mask] = left_pad(prompts, pad);
  return generate(model, ids, mask, o);
}

torch::Tensor sequence_logprobs(CausalLMImpl& model, const torch::Tensor& sequences, const torch::Tensor& attention_mask,
                                double temperature) {
  auto logits = model.forward(sequences, attention_mask);
  const int64_t L = logits.size(1);
  auto l = logits.narrow(1, 0, L - 1);
  if (temperature != 1.0) l = l / temperature;
  auto target = sequences.to(logits.device(), torch::kLong).narrow(1, 1, L - 1).unsqueeze(-1);
  return torch::log_softmax(l, -1).gather(-1, target).squeeze(-1);
}

}  // namespace paramkit::lm
