// The pre-tokenizer splits of GPT-2 and Llama 3, written as matchers (std::regex has no \p{L}): the
// same pieces as Hugging Face tokenizers' regexes give, in linear time.
#pragma once
#include <cstddef>
#include <string_view>
#include <utility>
#include <vector>

namespace paramkit::text {

enum class SplitPattern {
  // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  Gpt2,
  // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  Llama3,
};

// The regex source of a pattern, as tokenizer.json writes it.
const char* split_pattern_regex(SplitPattern p);

// Byte ranges [first, second) of the matches of the pattern in text, in order. The patterns match at
// every position, so the pieces cover the text. Bytes of invalid UTF-8 count as code points of class
// Other (neither letter, number nor space).
std::vector<std::pair<size_t, size_t>> split_text(std::string_view text, SplitPattern p);

}  // namespace paramkit::text
