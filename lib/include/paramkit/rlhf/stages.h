// The supervised stages of RLHF and the model folders they pass along: SFT (next-token loss on the
// responses only) and reward-model training (pairwise -log sigmoid(r_chosen - r_rejected)), each
// resumable through the shared loop, on models in Hugging Face folders with their tokenizer.
#pragma once
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "paramkit/io/dtype.h"
#include "paramkit/lm/model.h"
#include "paramkit/nn/train.h"
#include "paramkit/rlhf/data.h"
#include "paramkit/text/tokenizer.h"

namespace paramkit::rlhf {

// Where a model comes from: a Hugging Face folder (config.json, weights, tokenizer files), or a
// config.json for a new randomly initialised model (models trained here) with --tokenizer.
struct ModelSource {
  std::string model;         // --model DIR
  std::string model_config;  // --model-config config.json (new model)
  std::string tokenizer;     // --tokenizer: tokenizer.json, a folder, or "bytes"; default: the model folder's
  std::optional<DType> dtype;  // --dtype: compute (and saved) dtype, F32 (default), BF16 or F16
  // UsageError unless exactly one of model / model_config is given (and a tokenizer for a new model).
  void validate() const;
};

struct LoadedModel {
  lm::CausalLM model{nullptr};
  std::shared_ptr<const text::Tokenizer> tokenizer;
  std::string tokenizer_spec;         // what loaded it (a path or "bytes"): written beside saved models
  std::filesystem::path folder;       // the source folder (side files), empty for a new model
};

// Loads (or creates, seeded) the model with `head` and its tokenizer. A score head on an LM
// checkpoint is initialised from `seed` (a reward or value model started from the policy). The
// tokenizer's vocabulary must fit the model's embedding (InputError otherwise).
LoadedModel load_model(const ModelSource& source, lm::Head head, c10::Device device, uint64_t seed);
// The tokenizer of a model folder: tokenizer.json or GPT-2's files in it, or the byte tokenizer when
// its tokenizer_config.json says "tokenizer_class": "paramkit-bytes".
std::shared_ptr<const text::Tokenizer> folder_tokenizer(const std::filesystem::path& dir, std::string* spec = nullptr);

// Writes the model as a Hugging Face folder (atomic) with the tokenizer files of `from` (or, for the
// byte tokenizer, a tokenizer_config.json naming it) and `metadata` in the safetensors header.
void save_model(lm::CausalLMImpl& model, const LoadedModel& from, const std::filesystem::path& dir);

// One training sequence: ids, and the positions whose next token is trained (labels -1 elsewhere).
struct TokenSequence {
  std::vector<int64_t> ids, labels;
};
// prompt (with the tokenizer's special prefix) + response + EOS; labels on the response and EOS.
// Longer than max_length: the prompt is cut from the left first, then the response from the right.
TokenSequence sft_sequence(const text::Tokenizer& tok, const std::string& prompt, const std::string& response, int64_t max_length);

struct SftOptions {
  nn::TrainOptions train;
  int64_t max_length = 512;
  bool packing = false;  // concatenate examples into rows of max_length (attention crosses examples, as TRL's packing)
};
struct StageResult {
  int64_t steps = 0;
  bool finished = false, resumed = false;
  double last_loss = 0;
  double accuracy = 0;  // rm: share of pairs ranked right in the last epoch's batches
  int64_t examples = 0, tokens = 0;
};
// Next-token cross-entropy on the labelled positions (token mean over the batch).
StageResult train_sft(lm::CausalLMImpl& model, const text::Tokenizer& tok, const std::vector<SftExample>& data, const SftOptions& o,
                      uint64_t seed);
// Pairwise reward-model loss; the score of a sequence is the value at its last token.
StageResult train_rm(lm::CausalLMImpl& model, const text::Tokenizer& tok, const std::vector<PreferenceExample>& data,
                     const SftOptions& o, uint64_t seed);

// Rewards of (prompt, response) texts under a score-head model (for `score` and the RM's accuracy).
std::vector<double> score_texts(lm::CausalLMImpl& model, const text::Tokenizer& tok, const std::vector<std::string>& prompts,
                                const std::vector<std::string>& responses, int64_t batch_size, int64_t max_length);
// The same with the model's output given as a function of (ids, mask) [B, T] (right-padded) returning
// the values [B, T], e.g. a model split across processes.
std::vector<double> score_texts(const std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)>& values,
                                const text::Tokenizer& tok, const std::vector<std::string>& prompts,
                                const std::vector<std::string>& responses, int64_t batch_size, int64_t max_length);

// Held-out evaluation, no gradient: the token-mean cross-entropy of SFT examples (as sft_sequence
// builds them), and the share of preference pairs whose chosen response scores above the rejected one.
double sft_eval_loss(lm::CausalLMImpl& model, const text::Tokenizer& tok, const std::vector<SftExample>& data, int64_t max_length,
                     int64_t batch_size);
double preference_accuracy(lm::CausalLMImpl& model, const text::Tokenizer& tok, const std::vector<PreferenceExample>& data,
                           int64_t max_length, int64_t batch_size);

}  // namespace paramkit::rlhf
