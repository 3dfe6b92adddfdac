// UTF-8 decoding and the Unicode classes (letter, number, White_Space) the tokenizer pre-tokenizers use.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace paramkit::text {

// \p{L}, \p{N} and \s (the White_Space property) as Hugging Face tokenizers' regexes see them; every
// other code point (and every byte of invalid UTF-8) is Other.
enum class CharClass : uint8_t { Other = 0, Letter = 1, Number = 2, Space = 3 };

CharClass char_class(char32_t cp);
// The Unicode version of the tables (lib/src/text/unicode_tables.cpp, scripts/gen-unicode-tables.py).
const char* unicode_version();

// A code point that stands for one byte of invalid UTF-8 (outside Unicode, so of class Other).
constexpr char32_t invalid_utf8_byte = 0x110000;

// Decodes the code point starting at s[i] into cp and returns its length in bytes (1-4). A byte that
// does not start a valid sequence (overlong, surrogate, > U+10FFFF, truncated) gives invalid_utf8_byte
// and length 1, so every byte string splits into pieces that concatenate to it again.
size_t utf8_next(std::string_view s, size_t i, char32_t& cp);
void append_utf8(std::string& out, char32_t cp);
// Rust's String::from_utf8_lossy: each maximal invalid subsequence becomes one U+FFFD.
std::string utf8_lossy(std::string_view bytes);

namespace detail {
enum : uint8_t { L = 1, N = 2, S = 3 };
struct ClassRange {
  char32_t first, last;
  uint8_t cls;
};
extern const ClassRange class_ranges[];
extern const size_t class_range_count;
extern const char* const unicode_tables_version;
}  // namespace detail

}  // namespace paramkit::text
