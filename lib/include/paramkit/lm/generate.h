// Batched generation with a preallocated KV cache: prompts of different lengths left-padded, greedy
// or sampled (temperature, top-k, top-p), per-sequence stop at EOS, seeded and deterministic.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "paramkit/lm/model.h"

namespace paramkit::lm {

struct GenerateOptions {
  int64_t max_new_tokens = 128;   // --max-new-tokens
  bool greedy = false;            // argmax; otherwise sample
  double temperature = 1.0;       // > 0 (sampling only)
  int64_t top_k = 0;              // 0: off
  double top_p = 1.0;             // (0, 1]; 1: off
  std::vector<int64_t> eos_ids;   // empty: the config's eos_token_ids
  int64_t pad_id = -1;            // -1: the config's pad_token_id, else the first EOS id, else 0
  uint64_t seed = 0;              // sampling generator (own CPU generator; the global one is untouched)
  bool logprobs = true;           // return the chosen tokens' log-probabilities
  bool use_cache = true;          // false: recompute the whole sequence every step (for tests)
  // UsageError naming the flag (--max-new-tokens, --temperature, --top-k, --top-p).
  void validate() const;
};

struct GenerateResult {
  torch::Tensor sequences;       // [B, P + N] int64: left-padded prompts then generated tokens (pad after EOS)
  torch::Tensor attention_mask;  // [B, P + N] int64: 1 for prompt tokens and generated tokens up to EOS
  torch::Tensor response_mask;   // [B, N] int64: 1 for generated tokens up to and including EOS
  // [B, N] float32: log-probability of each chosen token under the distribution it was drawn from
  // (after temperature, top-k and top-p; greedy: the plain softmax of the logits); 0 where
  // response_mask is 0. Undefined unless options.logprobs.
  torch::Tensor logprobs;
  int64_t prompt_length = 0;     // P (the longest prompt)
  // N <= max_new_tokens: generation ends early when every row produced EOS.
  int64_t new_tokens() const { return sequences.size(1) - prompt_length; }
};

// The id written after EOS and as left padding: options.pad_id, else the config's pad_token_id, else the
// first EOS id (options' or the config's), else 0.
int64_t pad_id(const LmConfig& c, const GenerateOptions& options);

// Left-pads the prompts to the longest one: ids [B, P] (pad_id) and mask [B, P]. UsageError for an
// empty prompt list or an empty prompt.
std::pair<torch::Tensor, torch::Tensor> left_pad(const std::vector<std::vector<int64_t>>& prompts, int64_t pad_id);

// Generates on the model's device. UsageError when P + max_new_tokens exceeds the model's
// max_positions (naming --max-new-tokens). Calls check_stop() every step (throws Interrupted).
// The model must have the LM head; its training mode is left as it was (no grad inside).
GenerateResult generate(CausalLMImpl& model, const std::vector<std::vector<int64_t>>& prompts,
                        const GenerateOptions& options);
// A model as generation sees it, however it is split across devices or processes: start() before a
// batch, then for each step the logits [B, V] (float32) after the sequence so far (seq [B, len], mask
// [B, len]) of which the last `fresh` tokens are new since the previous step (a KV cache feeds only those).
struct Decoder {
  virtual ~Decoder() = default;
  virtual void start(int64_t batch, int64_t capacity) = 0;
  virtual torch::Tensor next_logits(const torch::Tensor& seq, int64_t fresh, const torch::Tensor& mask) = 0;
};
// Generates with `decoder` (its config c, tensors on dev): the loop of generate() below. Every caller
// that feeds the same logits draws the same tokens.
GenerateResult generate(Decoder& decoder, const LmConfig& c, c10::Device dev, const torch::Tensor& ids, const torch::Tensor& attention_mask,
                        const GenerateOptions& options);

// Prompts already left-padded: ids [B, P] int64, attention_mask [B, P] (every row ends with a token).
GenerateResult generate(CausalLMImpl& model, const torch::Tensor& ids, const torch::Tensor& attention_mask,
                        const GenerateOptions& options);

// Log-probabilities of `sequences` [B, L] under the model (plain softmax, temperature 1 unless given)
// for positions 1..L-1: [B, L-1] float32, entry t the log-prob of token t+1. For RL losses.
torch::Tensor sequence_logprobs(CausalLMImpl& model, const torch::Tensor& sequences, const torch::Tensor& attention_mask,
                                double temperature = 1.0);

}  // namespace paramkit::lm
