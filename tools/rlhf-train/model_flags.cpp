#include "commands.h"

#include "paramkit/cli/nn_options.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"

void add_model_flags(CLI::App& app, paramkit::rlhf::ModelSource& s, const std::string& what) {
  app.add_option("--model", s.model, what + ": a Hugging Face folder (config.json, safetensors, tokenizer files)");
  app.add_option("--model-config", s.model_config, "A config.json for a new, randomly initialised model (with --tokenizer)");
  app.add_option("--tokenizer", s.tokenizer, "tokenizer.json, a folder with one (or GPT-2's vocab.json + merges.txt), or bytes; default: the model's");
  paramkit::cli::add_dtype(app, s.dtype, "Compute dtype of the model (and of a saved model): F32 (default), BF16 or F16",
                           {paramkit::DType::F32, paramkit::DType::BF16, paramkit::DType::F16});
}

paramkit::rlhf::plan::ModelSize model_size_of(const paramkit::lm::LmConfig& c, const std::string& name) {
  paramkit::rlhf::plan::ModelSize s;
  s.name = name;
  s.layers = c.num_layers;
  s.hidden = c.hidden_size;
  s.vocab = c.vocab_size;
  s.heads = c.num_heads;
  return s;
}

paramkit::lm::LmConfig TinyModel::config() const {
  auto c = arch == "gpt2" ? paramkit::lm::LmConfig::gpt2(vocab, hidden, layers, heads, 128)
                          : paramkit::lm::LmConfig::llama(vocab, hidden, 2 * hidden, layers, heads, kv_heads, 128);
  c.eos_token_ids = {0};
  c.validate();
  return c;
}

void add_tiny_model_flags(CLI::App& app, TinyModel& m) {
  app.add_option("--arch", m.arch, "Architecture of the test model: llama (untied head) or gpt2 (fused qkv, tied head)")
      ->capture_default_str()
      ->check(CLI::IsMember({"llama", "gpt2"}));
  app.add_option("--layers", m.layers, "Layers")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{256}));
  app.add_option("--hidden", m.hidden, "Hidden size")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{8192}));
  app.add_option("--heads", m.heads, "Attention heads (divide --hidden)")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{256}));
  app.add_option("--kv-heads", m.kv_heads, "Key/value heads (llama; divide --heads)")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{256}));
  app.add_option("--vocab", m.vocab, "Vocabulary")->capture_default_str()->check(CLI::Range(int64_t{2}, int64_t{1} << 18));
}

paramkit::rlhf::realloc::Layout parse_layout(const std::string& text, const std::string& flag) {
  const std::vector<double> v = paramkit::cli::parse_list(text, flag);
  if (v.size() != 3) throw paramkit::UsageError(flag + " '" + text + "': expected pp,tp,dp");
  for (double x : v)
    if (!(x >= 1 && x <= 65536 && x == static_cast<double>(static_cast<int64_t>(x))))
      throw paramkit::UsageError(flag + " '" + text + "': degrees must be whole numbers in [1, 65536]");
  return {static_cast<int64_t>(v[0]), static_cast<int64_t>(v[1]), static_cast<int64_t>(v[2])};
}

void add_key_flags(CLI::App& app, paramkit::rlhf::JsonlKeys& k, const std::string& which) {
  auto key = [&](const char* flag, std::string& v, const char* help) {
    if (which.find(flag + 2) != std::string::npos) app.add_option(flag, v, help)->capture_default_str();
  };
  key("--prompt-key", k.prompt, "JSONL field of the prompt");
  key("--response-key", k.response, "JSONL field of the response");
  key("--chosen-key", k.chosen, "JSONL field of the preferred response");
  key("--rejected-key", k.rejected, "JSONL field of the other response");
  key("--answer-key", k.answer, "JSONL field of the reference answer (rule rewards, external scorers)");
}

void add_supervised_flags(CLI::App& app, paramkit::rlhf::SftOptions& o) {
  // the defaults of the supervised stages (shown by --help)
  o.train.batch_size = 16;
  o.train.log_every = 50;
  o.train.optimizer.name = "adamw";
  o.train.optimizer.lr = 1e-4;
  app.add_option("--max-length", o.max_length, "Tokens per sequence (prompt cut from the left first)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 20));
  paramkit::cli::add_training(app, o.train);
}
