// Hand-written matchers for the GPT-2 and Llama 3 pre-tokenizer regexes. Each alternative of a pattern
// is tried in order at the current position, with the backtracking a regex engine would do spelled out
// (the lookahead (?!\S) and the \s* before [\r\n]+ are the only places it matters).
#include "paramkit/text/pretokenize.h"

#include "paramkit/text/unicode.h"

namespace paramkit::text {

const char* split_pattern_regex(SplitPattern p) {
  switch (p) {
    case SplitPattern::Gpt2:
      return R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
    case SplitPattern::Llama3:
      return R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  }
  return "";
}

namespace {

struct Cp {
  char32_t cp;
  CharClass cls;
  size_t pos;  // byte offset
};

char32_t lower_ascii(char32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

// Length in code points of a contraction ('s 't 're 've 'm 'll 'd) at i, 0 if none.
size_t contraction(const std::vector<Cp>& v, size_t i, bool ignore_case) {
  size_t n = v.size();
  if (v[i].cp != '\'' || i + 1 >= n) return 0;
  auto at = [&](size_t k) { return ignore_case ? lower_ascii(v[k].cp) : v[k].cp; };
  char32_t a = at(i + 1);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (i + 2 < n) {
    char32_t b = at(i + 2);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  }
  return 0;
}

bool is_cr_lf(char32_t c) { return c == '\r' || c == '\n'; }

// End of the run of code points of class c starting at i.
size_t run_end(const std::vector<Cp>& v, size_t i, CharClass c) {
  while (i < v.size() && v[i].cls == c) ++i;
  return i;
}

// \s+(?!\S) then \s+ at a space i whose run ends at j: the run, less its last space when a non-space
// follows and the run is longer than one.
size_t whitespace_tail(const std::vector<Cp>& v, size_t i, size_t j) {
  if (j == v.size()) return j;
  return j - 1 > i ? j - 1 : j;
}

size_t match_gpt2(const std::vector<Cp>& v, size_t i) {
  size_t n = v.size();
  if (size_t c = contraction(v, i, false)) return i + c;
  bool space = v[i].cp == ' ' && i + 1 < n;
  for (CharClass c : {CharClass::Letter, CharClass::Number, CharClass::Other}) {
    if (space && v[i + 1].cls == c) return run_end(v, i + 1, c);  // ` ?X+` with the space
    if (v[i].cls == c) return run_end(v, i, c);                   // ` ?X+` without it
  }
  // v[i] is a space.
  return whitespace_tail(v, i, run_end(v, i, CharClass::Space));
}

size_t match_llama3(const std::vector<Cp>& v, size_t i) {
  size_t n = v.size();
  if (size_t c = contraction(v, i, true)) return i + c;
  const Cp& a = v[i];
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (a.cls != CharClass::Letter && a.cls != CharClass::Number && !is_cr_lf(a.cp) && i + 1 < n &&
      v[i + 1].cls == CharClass::Letter)
    return run_end(v, i + 1, CharClass::Letter);
  if (a.cls == CharClass::Letter) return run_end(v, i, CharClass::Letter);
  // \p{N}{1,3}
  if (a.cls == CharClass::Number) {
    size_t j = i;
    while (j < n && j - i < 3 && v[j].cls == CharClass::Number) ++j;
    return j;
  }
  // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
  size_t start = (a.cp == ' ' && i + 1 < n && v[i + 1].cls == CharClass::Other) ? i + 1 : i;
  if (v[start].cls == CharClass::Other) {
    size_t j = run_end(v, start, CharClass::Other);
    while (j < n && is_cr_lf(v[j].cp)) ++j;
    return j;
  }
  // a is a space. \s*[\r\n]+: up to and including the last \r or \n of the run of spaces.
  size_t j = run_end(v, i, CharClass::Space);
  for (size_t k = j; k > i; --k)
    if (is_cr_lf(v[k - 1].cp)) return k;
  return whitespace_tail(v, i, j);
}

}  // namespace

std::vector<std::pair<size_t, size_t>> split_text(std::string_view text, SplitPattern p) {
  std::vector<Cp> v;
  v.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    char32_t cp;
    size_t len = utf8_next(text, i, cp);
    v.push_back({cp, char_class(cp), i});
    i += len;
  }
  std::vector<std::pair<size_t, size_t>> out;
  size_t i = 0;
  while (i < v.size()) {
    size_t j = p == SplitPattern::Gpt2 ? match_gpt2(v, i) : match_llama3(v, i);
    out.emplace_back(v[i].pos, j < v.size() ? v[j].pos : text.size());
    i = j;
  }
  return out;
}

}  // namespace paramkit::text
