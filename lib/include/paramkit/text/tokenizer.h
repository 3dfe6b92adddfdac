// Tokenizers of language models, as Hugging Face `tokenizers` runs them: byte-level BPE (GPT-2, Llama 3),
// sentencepiece-style BPE with byte fallback (Llama 2, Mistral), and a plain byte tokenizer for models
// trained here. No LibTorch.
//
//   auto tok = paramkit::text::load_tokenizer("data/tokenizers/llama3");   // or a tokenizer.json, or "bytes"
//   std::vector<int64_t> ids = tok->encode("Hello world", /*add_special=*/true);
//   std::string text = tok->decode(ids, /*skip_special=*/true);
//
// What load_tokenizer reads:
// - a Hugging Face tokenizer.json (or a folder holding one; a tokenizer_config.json beside it names the
//   bos/eos/pad tokens): model BPE (byte_fallback, ignore_merges, unk_token, fuse_unk); normalizer null,
//   Prepend, Replace (string pattern) or a Sequence of them; pre_tokenizer null, ByteLevel (use_regex:
//   the GPT-2 split), Split with the GPT-2 or Llama 3 regex (behavior Isolated), or a Sequence of them;
//   decoder ByteLevel, Replace, ByteFallback, Fuse, Strip or a Sequence; post_processor
//   TemplateProcessing, ByteLevel or a Sequence. Anything else is an InputError naming the field.
// - a folder with GPT-2's vocab.json/encoder.json and merges.txt/vocab.bpe (byte-level BPE, GPT-2
//   split, <|endoftext|> as bos, eos and a special token).
// - "bytes" (or "byte"): ids 0-255 are the bytes, then <pad> 256, <bos> 257, <eos> 258.
//
// Added tokens (tokenizer.json's added_tokens) are found in the text first, leftmost-longest, and never
// split; the rest goes through normalizer, pre-tokenizer and model.
// Ids are int64 for LibTorch's sake. A Tokenizer is immutable after loading: encode and decode may run
// from several threads at once.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace paramkit::text {

struct AddedToken {
  std::string content;
  int64_t id = 0;
  bool special = true;      // skipped by decode(..., skip_special = true)
  bool lstrip = false;      // the match also takes the whitespace before it
  bool rstrip = false;      // ... and after it
  bool single_word = false; // matched only where not next to a letter, number or '_'
};

class Tokenizer {
 public:
  struct Impl;
  explicit Tokenizer(std::shared_ptr<const Impl> impl);
  ~Tokenizer();

  // Token ids of text. add_special: add what the tokenizer's post-processor adds (Llama 2: <s> first;
  // GPT-2: nothing; the byte tokenizer: <bos> first). Added tokens in the text become their ids.
  std::vector<int64_t> encode(const std::string& text, bool add_special = false) const;
  // The same, with added tokens in the text treated as plain text (for untrusted text).
  std::vector<int64_t> encode_ordinary(const std::string& text) const;
  // Text of ids. Byte-level tokenizers give valid UTF-8 (invalid sequences become U+FFFD, as HF does);
  // the byte tokenizer gives the bytes back as they were. An id outside [0, vocab_size()) with no token
  // is an InputError.
  std::string decode(const std::vector<int64_t>& ids, bool skip_special = false) const;

  // One more than the largest id (model vocabulary and added tokens): the embedding table's size.
  int64_t vocab_size() const;
  std::optional<int64_t> token_to_id(const std::string& token) const;
  // The token's string as the vocabulary writes it (byte-level: "Ġhello"; Llama 2: "▁hello", "<0x0A>").
  std::optional<std::string> id_to_token(int64_t id) const;

  std::optional<int64_t> bos_id() const;
  std::optional<int64_t> eos_id() const;
  std::optional<int64_t> pad_id() const;
  std::optional<int64_t> unk_id() const;
  const std::vector<AddedToken>& added_tokens() const;
  // One line on what this is, e.g. "byte-level BPE (Llama 3 split), 128256 ids".
  std::string describe() const;

 private:
  std::shared_ptr<const Impl> impl_;
};

// A tokenizer.json file, a folder with tokenizer.json or GPT-2's files, or "bytes". Bad files: InputError
// naming the file and the field ("tokenizer.json: model.merges[17]: ...").
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);
// The byte tokenizer.
std::unique_ptr<Tokenizer> byte_tokenizer();

}  // namespace paramkit::text
