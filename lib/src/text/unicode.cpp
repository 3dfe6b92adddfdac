// UTF-8 decoding and Unicode class lookup (binary search over generated ranges, a table for Latin-1).
#include "paramkit/text/unicode.h"

#include <algorithm>
#include <array>

namespace paramkit::text {

namespace {

CharClass lookup(char32_t cp) {
  const detail::ClassRange* begin = detail::class_ranges;
  const detail::ClassRange* end = begin + detail::class_range_count;
  auto it = std::upper_bound(begin, end, cp, [](char32_t c, const detail::ClassRange& r) { return c < r.first; });
  if (it == begin) return CharClass::Other;
  --it;
  return cp <= it->last ? static_cast<CharClass>(it->cls) : CharClass::Other;
}

const std::array<CharClass, 256>& latin1() {
  static const std::array<CharClass, 256> table = [] {
    std::array<CharClass, 256> t{};
    for (char32_t c = 0; c < 256; ++c) t[c] = lookup(c);
    return t;
  }();
  return table;
}

}  // namespace

CharClass char_class(char32_t cp) {
  if (cp < 256) return latin1()[cp];
  if (cp >= 0x110000) return CharClass::Other;
  return lookup(cp);
}

const char* unicode_version() { return detail::unicode_tables_version; }

// Length of the valid UTF-8 sequence at s[i], 0 if none; also the length of the longest prefix of a
// valid sequence there (for from_utf8_lossy's "maximal subpart").
static size_t utf8_valid(std::string_view s, size_t i, char32_t& cp, size_t& prefix) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  unsigned char c = b(0);
  prefix = 1;
  if (c < 0x80) {
    cp = c;
    return 1;
  }
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  char32_t v = c & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
  for (size_t k = 1; k < n; ++k) {
    if (i + k >= s.size()) return 0;
    unsigned char d = b(k);
    if (k == 1 ? (d < lo || d > hi) : (d < 0x80 || d > 0xBF)) return 0;
    v = (v << 6) | (d & 0x3F);
    prefix = k + 1;
  }
  cp = v;
  return n;
}

size_t utf8_next(std::string_view s, size_t i, char32_t& cp) {
  size_t prefix;
  size_t n = utf8_valid(s, i, cp, prefix);
  if (n == 0) {
    cp = invalid_utf8_byte;
    return 1;
  }
  return n;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    char32_t cp;
    size_t prefix;
    size_t n = utf8_valid(bytes, i, cp, prefix);
    if (n > 0) {
      out.append(bytes.data() + i, n);
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      i += prefix;
    }
  }
  return out;
}

}  // namespace paramkit::text
