// Causal language models with Hugging Face names and layouts (GPT-2 and Llama families): the config
// (config.json), the model (LM head or scalar score head for reward/value models), the KV cache and
// reading/writing Hugging Face model folders.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "paramkit/io/tensor_store.h"

namespace paramkit::lm {

enum class Arch { gpt2, llama };

// rope_scaling of config.json: none (null), linear {factor} or llama3 {factor, low_freq_factor,
// high_freq_factor, original_max_position_embeddings}. Other types are refused.
struct RopeScaling {
  std::string type = "none";  // none, linear, llama3
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

// The fields of a Hugging Face config.json this library uses, under one set of names for both
// families (GPT-2's n_embd is hidden_size, n_layer num_layers, n_positions max_positions...).
struct LmConfig {
  Arch arch = Arch::gpt2;
  int64_t vocab_size = 50257;
  int64_t hidden_size = 768;
  int64_t intermediate_size = 3072;  // GPT-2: n_inner or 4 * n_embd
  int64_t num_layers = 12;
  int64_t num_heads = 12;
  int64_t num_kv_heads = 12;         // GPT-2: num_heads
  int64_t head_dim = 64;             // hidden_size / num_heads unless config.json says head_dim
  int64_t max_positions = 1024;      // n_positions / max_position_embeddings
  double norm_eps = 1e-5;            // layer_norm_epsilon / rms_norm_eps
  double rope_theta = 10000.0;       // Llama only
  RopeScaling rope_scaling;          // Llama only
  bool tie_word_embeddings = true;   // default true for GPT-2, false for Llama
  double initializer_range = 0.02;
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;  // eos_token_id: a number or a list
  std::optional<int64_t> pad_token_id;
  // The config.json this came from (empty for configs made here): its other keys are written back
  // unchanged by to_hf_json.
  nlohmann::json raw = nlohmann::json::object();

  // Tiny or small configs for models trained here and for tests.
  static LmConfig gpt2(int64_t vocab, int64_t hidden, int64_t layers, int64_t heads, int64_t max_positions);
  static LmConfig llama(int64_t vocab, int64_t hidden, int64_t intermediate, int64_t layers, int64_t heads,
                        int64_t kv_heads, int64_t max_positions);
  // UsageError (made here) or InputError naming `source` (read from a file) for impossible values.
  void validate(const std::string& source = "") const;
};

// Parses config.json content; InputError "<source>: <field>: ..." for missing, unknown or unsupported
// values (model_type other than gpt2/llama, activation other than gelu_new/silu, rope_scaling types
// other than linear/llama3, attention_bias true, ...).
LmConfig parse_lm_config(const nlohmann::json& j, const std::string& source = "config.json");
LmConfig read_lm_config(const std::filesystem::path& config_json);
// config.json as transformers writes it (raw keys kept; architectures from the head).
enum class Head { lm, score };
nlohmann::json to_hf_json(const LmConfig& config, Head head = Head::lm);

// Preallocated keys and values of every layer, [B, kv_heads, capacity, head_dim], written in place.
// length: positions already filled (the same for every row; left padding keeps rows aligned).
struct KvCache {
  std::vector<torch::Tensor> keys, values;
  int64_t length = 0;
  int64_t capacity() const { return keys.empty() ? 0 : keys[0].size(2); }
  int64_t batch() const { return keys.empty() ? 0 : keys[0].size(0); }
  void reset() { length = 0; }
  // Keeps only the rows `index` (e.g. finished sequences dropped); int64 indices.
  void select_rows(const torch::Tensor& index);
};

// A part of a model for tensor and pipeline parallelism (Megatron-LM's split): the layers
// [layer_begin, layer_end) (the embedding with the first layer, the final norm and the head with the last;
// a tied head keeps its copy of the embedding on the last stage), and of each layer the tp_rank-th of tp
// slices: columns of the query/key/value and MLP-in projections (whole heads; GPT-2's fused c_attn holds
// its q, k and v slices side by side), rows of the attention-out and MLP-out projections. Norms, biases
// of row-parallel projections, embeddings and heads are whole. Parameters keep transformers' names
// (global layer numbers) with local shapes.
struct Shard {
  int64_t tp = 1, tp_rank = 0;
  int64_t layer_begin = 0, layer_end = -1;  // -1: to the last layer
  // UsageError when tp does not divide the heads, key/value heads and MLP width, or the range is empty.
  void validate(const LmConfig& c) const;
  int64_t end(const LmConfig& c) const { return layer_end < 0 ? c.num_layers : layer_end; }
  bool first() const { return layer_begin == 0; }
  bool last(const LmConfig& c) const { return end(c) == c.num_layers; }
  bool whole(const LmConfig& c) const { return tp == 1 && first() && last(c); }
};
// The two communication points of tensor parallelism, as autograd functions over the tensor-parallel
// group: copy_input before column-parallel projections (identity forward, gradient summed over the
// group) and reduce_output after row-parallel ones (sum forward, gradient passed through).
struct TensorParallelOps {
  std::function<torch::Tensor(const torch::Tensor&)> copy_input, reduce_output;
};

// The decoder trunk plus a head: an LM head (logits [B,T,V]) or a scalar score head (values [B,T],
// tensor score.weight [1, hidden] as in transformers' *ForSequenceClassification).
// Tensor names (named_state) are exactly transformers' names, in its layouts:
//   GPT-2: transformer.wte.weight, transformer.wpe.weight, transformer.h.{i}.ln_1.{weight,bias},
//          .attn.c_attn.{weight,bias} (Conv1D [in, out]), .attn.c_proj, .ln_2, .mlp.c_fc, .mlp.c_proj,
//          transformer.ln_f.{weight,bias}
//   Llama: model.embed_tokens.weight, model.layers.{i}.self_attn.{q,k,v,o}_proj.weight,
//          .mlp.{gate,up,down}_proj.weight, .input_layernorm.weight, .post_attention_layernorm.weight,
//          model.norm.weight
//   then lm_head.weight only when not tied (tied: the head is the embedding, as in the files
//   transformers writes), or score.weight for the score head.
// Compute runs in the parameters' dtype; logits and values are returned as float32.
class CausalLMImpl : public torch::nn::Module {
 public:
  // Random initialisation as transformers does it (normal(0, initializer_range), GPT-2's residual
  // projections scaled by 1/sqrt(2 * layers), norms 1, biases 0), from `seed` (own generator, the
  // global one is untouched), float32 on the CPU. initialize false: parameters left uninitialised
  // (torch::empty, no memory touched) for loading.
  // shard: a part of the model (tensor/pipeline parallelism); its parameters are left uninitialised
  // unless it is the whole model.
  explicit CausalLMImpl(const LmConfig& config, Head head = Head::lm, uint64_t seed = 0, bool initialize = true, const Shard& shard = {});

  // ids [B,T] int64; attention_mask [B, past + T] (1 token, 0 padding; left padding), or undefined
  // (all ones). With a cache, its `length` past positions are attended and the new keys/values are
  // written at [length, length + T); length advances by T. Positions are cumsum(mask) - 1 (padding
  // at 1), so logits at real tokens equal those of the unpadded sequence.
  // Returns logits [B,T,V] (LM head) or values [B,T] (score head), float32.
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& attention_mask = {}, KvCache* cache = nullptr);
  // The trunk's output after the final norm, [B,T,hidden], in the parameters' dtype.
  torch::Tensor hidden_states(const torch::Tensor& ids, const torch::Tensor& attention_mask = {},
                              KvCache* cache = nullptr);
  // A shard's part of hidden_states: `input` is ids [B,T] on the first stage, else the previous stage's
  // output [B,T,hidden]; returns its layers' output (after the final norm on the last stage). `tp` is
  // needed when the shard splits layers (tp > 1). The cache holds the shard's layers and heads.
  torch::Tensor stage_forward(const torch::Tensor& input, const torch::Tensor& attention_mask, KvCache* cache,
                              const TensorParallelOps* tp);
  // The head applied to hidden states [..., hidden]: logits [..., V] or values [...], float32.
  torch::Tensor head_output(const torch::Tensor& hidden);

  // An empty cache for `batch` rows and `capacity` positions on the parameters' device and dtype.
  KvCache make_cache(int64_t batch, int64_t capacity) const;

  const LmConfig& config() const { return config_; }
  Head head() const { return head_; }
  const Shard& shard() const { return shard_; }
  torch::Tensor embedding_weight() const;  // wte / embed_tokens
  torch::Tensor lm_head_weight() const;    // [V, hidden]: lm_head or the tied embedding (LM head only)
  torch::Tensor score_weight() const;      // [1, hidden] (score head only)
  c10::Device device() const;
  c10::ScalarType dtype() const;

  struct Impl;  // layers (private)
 private:
  LmConfig config_;
  Head head_;
  Shard shard_;
  std::shared_ptr<Impl> impl_;
};
TORCH_MODULE(CausalLM);

// Reward of each sequence: values [B,T] at the last real token (mask [B,T], 1 token) -> [B].
torch::Tensor last_token_values(const torch::Tensor& values, const torch::Tensor& attention_mask);

// Reading Hugging Face folders (config.json + model.safetensors or model.safetensors.index.json shards).
struct LoadOptions {
  Head head = Head::lm;
  c10::Device device = c10::kCPU;
  c10::ScalarType dtype = torch::kFloat32;  // compute dtype; F32/F16/BF16 files are converted
  // Score head from an LM checkpoint (a value model started from the policy): score.weight, when the
  // file has none, is initialised normal(0, initializer_range) from `seed`; lm_head.weight is ignored.
  bool init_missing_score = false;
  uint64_t seed = 0;
};
// dir: a folder holding config.json and the weights. InputError naming the file and tensor for a
// missing tensor, an unexpected one, or a wrong shape. Accepted besides transformers' current names:
// GPT-2 files without the "transformer." prefix, GPT-2's attn.bias/attn.masked_bias buffers (ignored),
// lm_head.weight in a tied checkpoint (ignored: the head is the embedding).
CausalLM load_causal_lm(const std::filesystem::path& dir, const LoadOptions& options = {});
// config.json and weights (a .safetensors file or a folder) given separately.
CausalLM load_causal_lm(const std::filesystem::path& config_json, const std::filesystem::path& weights,
                        const LoadOptions& options = {});

struct SaveLmOptions {
  std::optional<DType> dtype;     // F32/F16/BF16; default: the parameters' dtype
  uint64_t shard_size = 0;        // bytes per shard; 0: 5 GB (transformers' default)
  Metadata metadata;              // added to {"format": "pt"} (e.g. provenance_metadata())
  // A folder whose other files (tokenizer.json, ...) become part of the output.
  std::filesystem::path side_files_from;
};
// Writes dir/config.json and model.safetensors (or shards + index) that transformers loads, in one
// atomic folder swap. Tied heads are not written (as transformers writes them).
void save_causal_lm(CausalLMImpl& model, const std::filesystem::path& dir, const SaveLmOptions& options = {});

}  // namespace paramkit::lm
