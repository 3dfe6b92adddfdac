// The tokenizer pipeline (added tokens, normalizer, pre-tokenizer, BPE model, post-processor, decoder)
// and its loaders: tokenizer.json, GPT-2's vocab.json + merges.txt, and the byte tokenizer.
#include "paramkit/text/tokenizer.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string_view>
#include <unordered_map>

#include "paramkit/core/error.h"
#include "paramkit/io/json.h"
#include "paramkit/text/bpe.h"
#include "paramkit/text/pretokenize.h"
#include "paramkit/text/unicode.h"

namespace paramkit::text {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// GPT-2's map of bytes to printable code points: printable Latin-1 bytes stand for themselves, the
// others (controls, space, 0x7F-0xA0, 0xAD) for 256, 257, ... in byte order.
struct ByteLevelMap {
  std::array<std::string, 256> to_utf8;         // byte -> its character, UTF-8
  std::unordered_map<char32_t, uint8_t> to_byte;  // character -> byte
  ByteLevelMap() {
    char32_t extra = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      char32_t cp = printable ? char32_t(b) : extra++;
      append_utf8(to_utf8[b], cp);
      to_byte[cp] = uint8_t(b);
    }
  }
};

const ByteLevelMap& byte_level_map() {
  static const ByteLevelMap m;
  return m;
}

// A token string of the byte-level alphabet as raw bytes, the way HF's ByteLevel decoder reads one: a
// token with any character outside the alphabet is taken as its own UTF-8 bytes.
std::string byte_level_bytes(const std::string& token) {
  const auto& m = byte_level_map();
  std::string out;
  for (size_t i = 0; i < token.size();) {
    char32_t cp;
    i += utf8_next(token, i, cp);
    auto it = m.to_byte.find(cp);
    if (it == m.to_byte.end()) return token;
    out += char(it->second);
  }
  return out;
}

std::string quote(const std::string& s) { return "'" + s + "'"; }

std::string hex_byte_token(unsigned b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "<0x%02X>", b);
  return buf;
}

}  // namespace

struct Tokenizer::Impl {
  std::string kind;  // for describe()
  bool raw_bytes_model = false;  // the byte tokenizer

  // Vocabulary: model tokens and added tokens.
  std::vector<std::string> id_to_tok;
  std::vector<uint8_t> has_id;
  std::unordered_map<std::string, int32_t> model_vocab;
  std::vector<AddedToken> added;
  std::unordered_map<std::string, size_t> added_by_content;
  std::unordered_map<int64_t, size_t> added_by_id;
  std::array<std::vector<size_t>, 256> added_by_first_byte;  // indices into added, longest first

  // Normalizer.
  struct NormStep {
    bool prepend;  // else replace
    std::string a, b;
  };
  std::vector<NormStep> normalizer;

  // Pre-tokenizer steps, applied to the pieces of the previous step.
  struct PreStep {
    bool byte_level;           // else a split
    SplitPattern pattern{};    // split, or ByteLevel with use_regex
    bool use_regex = false;    // ByteLevel
    bool add_prefix_space = false;
  };
  std::vector<PreStep> pre;
  bool byte_level = false;  // a ByteLevel step maps bytes to the byte-level alphabet before the model

  // BPE model.
  BpeMerges merges;
  bool byte_fallback = false, ignore_merges = false, fuse_unk = false;
  std::optional<int32_t> unk;
  std::array<int32_t, 256> byte_level_ids{};     // id of each byte's byte-level character, -1 if none
  std::array<int32_t, 256> byte_fallback_ids{};  // id of <0xNN>, -1 if none

  // Post-processor (add_special).
  std::vector<int64_t> prefix, suffix;

  // Decoder steps; none: tokens joined by spaces.
  enum class Dec { ByteLevel, Replace, ByteFallback, Fuse, Strip };
  struct DecStep {
    Dec kind;
    std::string a, b;
    size_t start = 0, stop = 0;
  };
  std::vector<DecStep> decoder;
  bool has_decoder = false;

  std::optional<int64_t> bos, eos, pad;

  int64_t size() const { return int64_t(id_to_tok.size()); }

  void set_token(int64_t id, const std::string& tok) {
    if (id >= int64_t(id_to_tok.size())) {
      id_to_tok.resize(id + 1);
      has_id.resize(id + 1, 0);
    }
    id_to_tok[id] = tok;
    has_id[id] = 1;
  }

  void add_token(const AddedToken& t) {
    added_by_content[t.content] = added.size();
    added_by_id[t.id] = added.size();
    added.push_back(t);
    set_token(t.id, t.content);
  }

  void index_added() {
    for (auto& v : added_by_first_byte) v.clear();
    for (size_t k = 0; k < added.size(); ++k)
      if (!added[k].content.empty()) added_by_first_byte[uint8_t(added[k].content[0])].push_back(k);
    for (auto& v : added_by_first_byte)
      std::stable_sort(v.begin(), v.end(), [&](size_t a, size_t b) { return added[a].content.size() > added[b].content.size(); });
  }

  void finish_bpe() {
    byte_level_ids.fill(-1);
    byte_fallback_ids.fill(-1);
    const auto& m = byte_level_map();
    for (int b = 0; b < 256; ++b) {
      auto it = model_vocab.find(m.to_utf8[b]);
      if (it != model_vocab.end()) byte_level_ids[b] = it->second;
      it = model_vocab.find(hex_byte_token(b));
      if (it != model_vocab.end()) byte_fallback_ids[b] = it->second;
    }
  }

  std::optional<int64_t> find(const std::string& tok) const {
    auto a = added_by_content.find(tok);
    if (a != added_by_content.end()) return added[a->second].id;
    auto m = model_vocab.find(tok);
    if (m != model_vocab.end()) return m->second;
    return std::nullopt;
  }

  bool is_special(int64_t id) const {
    auto it = added_by_id.find(id);
    return it != added_by_id.end() && added[it->second].special;
  }

  // --- encoding ---

  static bool word_char(char32_t cp) {
    CharClass c = char_class(cp);
    return c == CharClass::Letter || c == CharClass::Number || cp == '_';
  }

  // Finds the leftmost-longest added token at or after `from`; returns false if none. [start, end) is
  // the span it takes (with lstrip/rstrip whitespace), `id` its id.
  bool next_added(std::string_view text, size_t from, size_t& start, size_t& end, int64_t& id) const {
    for (size_t i = from; i < text.size(); ++i) {
      const auto& cands = added_by_first_byte[uint8_t(text[i])];
      for (size_t k : cands) {
        const AddedToken& t = added[k];
        if (text.compare(i, t.content.size(), t.content) != 0) continue;
        size_t s = i, e = i + t.content.size();
        if (t.single_word) {
          char32_t cp;
          if (s > 0) {
            size_t p = s - 1;
            while (p > 0 && (uint8_t(text[p]) & 0xC0) == 0x80) --p;
            utf8_next(text, p, cp);
            if (word_char(cp)) continue;
          }
          if (e < text.size()) {
            utf8_next(text, e, cp);
            if (word_char(cp)) continue;
          }
        }
        if (t.lstrip)
          while (s > from && std::isspace(uint8_t(text[s - 1]))) --s;
        if (t.rstrip)
          while (e < text.size() && std::isspace(uint8_t(text[e]))) ++e;
        start = s;
        end = e;
        id = t.id;
        return true;
      }
    }
    return false;
  }

  std::string normalize(std::string_view seg) const {
    std::string s(seg);
    for (const NormStep& n : normalizer) {
      if (n.prepend) {
        if (!s.empty()) s = n.a + s;
      } else if (!n.a.empty()) {
        std::string r;
        size_t pos = 0;
        for (size_t hit; (hit = s.find(n.a, pos)) != std::string::npos; pos = hit + n.a.size()) {
          r.append(s, pos, hit - pos);
          r += n.b;
        }
        r.append(s, pos, std::string::npos);
        s = std::move(r);
      }
    }
    return s;
  }

  [[noreturn]] void missing_char(std::string_view piece) const {
    throw Error("tokenizer: a character of " + quote(std::string(piece)) +
                " has no token, no byte fallback and there is no unk token");
  }

  // The model on one pre-tokenized piece (raw bytes).
  void model(std::string_view piece, std::vector<int64_t>& out, std::vector<int32_t>& sym, std::string& scratch) const {
    if (piece.empty()) return;
    if (raw_bytes_model) {
      for (char c : piece) out.push_back(uint8_t(c));
      return;
    }
    sym.clear();
    if (byte_level) {
      const auto& m = byte_level_map();
      if (ignore_merges) {
        scratch.clear();
        for (char c : piece) scratch += m.to_utf8[uint8_t(c)];
        auto it = model_vocab.find(scratch);
        if (it != model_vocab.end()) {
          out.push_back(it->second);
          return;
        }
      }
      bool last_unk = false;
      for (char c : piece) {
        int32_t id = byte_level_ids[uint8_t(c)];
        if (id >= 0) {
          sym.push_back(id);
          last_unk = false;
        } else if (byte_fallback && byte_fallback_ids[uint8_t(c)] >= 0) {
          sym.push_back(byte_fallback_ids[uint8_t(c)]);
          last_unk = false;
        } else if (unk) {
          if (!(fuse_unk && last_unk)) sym.push_back(*unk);
          last_unk = true;
        } else {
          missing_char(piece);
        }
      }
    } else {
      if (ignore_merges) {
        auto it = model_vocab.find(std::string(piece));
        if (it != model_vocab.end()) {
          out.push_back(it->second);
          return;
        }
      }
      bool last_unk = false;
      for (size_t i = 0; i < piece.size();) {
        char32_t cp;
        size_t len = utf8_next(piece, i, cp);
        scratch.assign(piece.data() + i, len);
        auto it = model_vocab.find(scratch);
        if (it != model_vocab.end()) {
          sym.push_back(it->second);
          last_unk = false;
        } else {
          bool done = false;
          if (byte_fallback) {
            done = true;
            for (size_t k = 0; k < len; ++k) done = done && byte_fallback_ids[uint8_t(piece[i + k])] >= 0;
            if (done)
              for (size_t k = 0; k < len; ++k) sym.push_back(byte_fallback_ids[uint8_t(piece[i + k])]);
          }
          if (done) {
            last_unk = false;
          } else if (unk) {
            if (!(fuse_unk && last_unk)) sym.push_back(*unk);
            last_unk = true;
          } else {
            missing_char(piece);
          }
        }
        i += len;
      }
    }
    merges.apply(sym);
    out.insert(out.end(), sym.begin(), sym.end());
  }

  // Normalizer, pre-tokenizer and model on a stretch of text without added tokens.
  void encode_plain(std::string_view seg, std::vector<int64_t>& out) const {
    std::string norm = normalize(seg);
    if (norm.empty()) return;
    std::deque<std::string> owned;  // strings made by add_prefix_space
    std::vector<std::string_view> pieces{norm}, next;
    for (const PreStep& p : pre) {
      next.clear();
      for (std::string_view piece : pieces) {
        if (p.byte_level && p.add_prefix_space && (piece.empty() || piece[0] != ' ')) {
          owned.push_back(" " + std::string(piece));
          piece = owned.back();
        }
        if (p.byte_level && !p.use_regex) {
          next.push_back(piece);
          continue;
        }
        for (auto [a, b] : split_text(piece, p.pattern)) next.push_back(piece.substr(a, b - a));
      }
      pieces.swap(next);
    }
    std::vector<int32_t> sym;
    std::string scratch;
    for (std::string_view piece : pieces) model(piece, out, sym, scratch);
  }

  std::vector<int64_t> encode(const std::string& text, bool add_special, bool split_added) const {
    std::vector<int64_t> out;
    out.reserve(text.size() / 3 + 4);
    if (add_special) out.insert(out.end(), prefix.begin(), prefix.end());
    std::string_view t(text);
    size_t pos = 0;
    if (split_added && !added.empty()) {
      size_t s, e;
      int64_t id;
      while (next_added(t, pos, s, e, id)) {
        encode_plain(t.substr(pos, s - pos), out);
        out.push_back(id);
        pos = e;
      }
    }
    encode_plain(t.substr(pos), out);
    if (add_special) out.insert(out.end(), suffix.begin(), suffix.end());
    return out;
  }

  // --- decoding ---

  std::string decode(const std::vector<int64_t>& ids, bool skip_special) const {
    for (size_t k = 0; k < ids.size(); ++k)
      if (ids[k] < 0 || ids[k] >= size() || !has_id[ids[k]])
        throw InputError("decode", "ids[" + std::to_string(k) + "]",
                         "no token has id " + std::to_string(ids[k]) + " (vocabulary size " + std::to_string(size()) + ")");
    if (raw_bytes_model) {
      std::string out;
      for (int64_t id : ids) {
        if (id < 256) out += char(id);
        else if (!(skip_special && is_special(id))) out += id_to_tok[id];
      }
      return out;
    }
    std::vector<std::string> toks;
    toks.reserve(ids.size());
    for (int64_t id : ids)
      if (!(skip_special && is_special(id))) toks.push_back(id_to_tok[id]);
    if (!has_decoder) {
      std::string out;
      for (size_t k = 0; k < toks.size(); ++k) out += (k ? " " : "") + toks[k];
      return out;
    }
    for (const DecStep& d : decoder) toks = decode_step(d, std::move(toks));
    std::string out;
    for (const auto& s : toks) out += s;
    return out;
  }

  static std::vector<std::string> decode_step(const DecStep& d, std::vector<std::string> toks) {
    switch (d.kind) {
      case Dec::ByteLevel: {
        std::string bytes;
        for (const auto& t : toks) bytes += byte_level_bytes(t);
        return {utf8_lossy(bytes)};
      }
      case Dec::Replace:
        for (auto& t : toks) {
          if (d.a.empty()) continue;
          std::string r;
          size_t pos = 0;
          for (size_t hit; (hit = t.find(d.a, pos)) != std::string::npos; pos = hit + d.a.size()) {
            r.append(t, pos, hit - pos);
            r += d.b;
          }
          r.append(t, pos, std::string::npos);
          t = std::move(r);
        }
        return toks;
      case Dec::ByteFallback: {
        // Runs of <0xNN> tokens become their bytes when these are valid UTF-8, else one U+FFFD a byte.
        std::vector<std::string> out;
        std::string run;
        size_t run_len = 0;
        auto flush = [&] {
          if (run_len == 0) return;
          if (utf8_lossy(run) == run) {
            out.push_back(run);
          } else {
            for (size_t k = 0; k < run_len; ++k) out.push_back("\xEF\xBF\xBD");
          }
          run.clear();
          run_len = 0;
        };
        for (auto& t : toks) {
          unsigned v;
          if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' && std::isxdigit(uint8_t(t[3])) &&
              std::isxdigit(uint8_t(t[4])) && std::sscanf(t.c_str() + 3, "%2x", &v) == 1) {
            run += char(v);
            ++run_len;
          } else {
            flush();
            out.push_back(std::move(t));
          }
        }
        flush();
        return out;
      }
      case Dec::Fuse: {
        std::string all;
        for (const auto& t : toks) all += t;
        return {all};
      }
      case Dec::Strip:
        for (auto& t : toks) {
          size_t s = 0, e = t.size();
          for (size_t k = 0; k < d.start && t.compare(s, d.a.size(), d.a) == 0 && s + d.a.size() <= e; ++k) s += d.a.size();
          for (size_t k = 0; k < d.stop && e >= s + d.a.size() && t.compare(e - d.a.size(), d.a.size(), d.a) == 0; ++k)
            e -= d.a.size();
          t = t.substr(s, e - s);
        }
        return toks;
    }
    return toks;
  }
};

// ---------------------------------------------------------------------------------------------------
// Loading tokenizer.json

namespace {

struct Loader {
  std::string source;
  [[noreturn]] void fail(const std::string& field, const std::string& what) const { throw InputError(source, field, what); }

  const json& need(const json& obj, const std::string& key, const std::string& field) const {
    if (!obj.is_object()) fail(field, "expected a JSON object");
    auto it = obj.find(key);
    if (it == obj.end()) fail(field.empty() ? key : field + "." + key, "missing");
    return *it;
  }
  std::string str(const json& obj, const std::string& key, const std::string& field) const {
    const json& v = need(obj, key, field);
    if (!v.is_string()) fail(field + "." + key, "expected a string");
    return v.get<std::string>();
  }
  bool flag(const json& obj, const std::string& key, const std::string& field, bool dflt) const {
    if (!obj.contains(key) || obj[key].is_null()) return dflt;
    if (!obj[key].is_boolean()) fail(field + "." + key, "expected true or false");
    return obj[key].get<bool>();
  }
  std::string type_of(const json& obj, const std::string& field) const { return str(obj, "type", field); }
  [[noreturn]] void unsupported(const std::string& field, const std::string& what) const {
    fail(field, what + " is not supported by paramkit's tokenizers");
  }
  // A {"String": "..."} pattern (Regex patterns are refused).
  std::string string_pattern(const json& obj, const std::string& field) const {
    const json& p = need(obj, "pattern", field);
    if (p.is_object() && p.contains("String") && p["String"].is_string()) return p["String"].get<std::string>();
    if (p.is_object() && p.contains("Regex")) unsupported(field + ".pattern", "a Regex pattern");
    fail(field + ".pattern", "expected {\"String\": ...}");
  }

  void normalizer(Tokenizer::Impl& t, const json& n, const std::string& field) const {
    if (n.is_null()) return;
    std::string type = type_of(n, field);
    if (type == "Sequence") {
      const json& list = need(n, "normalizers", field);
      if (!list.is_array()) fail(field + ".normalizers", "expected an array");
      for (size_t k = 0; k < list.size(); ++k) normalizer(t, list[k], field + ".normalizers[" + std::to_string(k) + "]");
    } else if (type == "Prepend") {
      t.normalizer.push_back({true, str(n, "prepend", field), ""});
    } else if (type == "Replace") {
      t.normalizer.push_back({false, string_pattern(n, field), str(n, "content", field)});
    } else {
      unsupported(field + ".type", "normalizer " + quote(type));
    }
  }

  void pre_tokenizer(Tokenizer::Impl& t, const json& p, const std::string& field) const {
    if (p.is_null()) return;
    std::string type = type_of(p, field);
    if (type == "Sequence") {
      const json& list = need(p, "pretokenizers", field);
      if (!list.is_array()) fail(field + ".pretokenizers", "expected an array");
      for (size_t k = 0; k < list.size(); ++k) pre_tokenizer(t, list[k], field + ".pretokenizers[" + std::to_string(k) + "]");
      return;
    }
    if (t.byte_level) fail(field, "a pre-tokenizer after ByteLevel is not supported");
    Tokenizer::Impl::PreStep s{};
    if (type == "ByteLevel") {
      s.byte_level = true;
      s.use_regex = flag(p, "use_regex", field, true);
      s.add_prefix_space = flag(p, "add_prefix_space", field, false);
      s.pattern = SplitPattern::Gpt2;
      t.byte_level = true;
    } else if (type == "Split") {
      const json& pat = need(p, "pattern", field);
      std::string regex = pat.is_object() && pat.contains("Regex") && pat["Regex"].is_string() ? pat["Regex"].get<std::string>() : "";
      if (regex == split_pattern_regex(SplitPattern::Gpt2)) s.pattern = SplitPattern::Gpt2;
      else if (regex == split_pattern_regex(SplitPattern::Llama3)) s.pattern = SplitPattern::Llama3;
      else unsupported(field + ".pattern", "this pattern (only the GPT-2 and Llama 3 regexes are)");
      std::string behavior = p.contains("behavior") ? str(p, "behavior", field) : "Isolated";
      if (behavior != "Isolated") unsupported(field + ".behavior", quote(behavior));
      if (flag(p, "invert", field, false)) unsupported(field + ".invert", "true");
    } else {
      unsupported(field + ".type", "pre-tokenizer " + quote(type));
    }
    t.pre.push_back(s);
  }

  void decoder(Tokenizer::Impl& t, const json& d, const std::string& field) const {
    if (d.is_null()) return;
    t.has_decoder = true;
    using Dec = Tokenizer::Impl::Dec;
    std::string type = type_of(d, field);
    if (type == "Sequence") {
      const json& list = need(d, "decoders", field);
      if (!list.is_array()) fail(field + ".decoders", "expected an array");
      for (size_t k = 0; k < list.size(); ++k) decoder(t, list[k], field + ".decoders[" + std::to_string(k) + "]");
    } else if (type == "ByteLevel") {
      t.decoder.push_back({Dec::ByteLevel, "", ""});
    } else if (type == "Replace") {
      t.decoder.push_back({Dec::Replace, string_pattern(d, field), str(d, "content", field)});
    } else if (type == "ByteFallback") {
      t.decoder.push_back({Dec::ByteFallback, "", ""});
    } else if (type == "Fuse") {
      t.decoder.push_back({Dec::Fuse, "", ""});
    } else if (type == "Strip") {
      Tokenizer::Impl::DecStep s{Dec::Strip, str(d, "content", field), ""};
      for (const char* key : {"start", "stop"}) {
        const json& v = need(d, key, field);
        if (!v.is_number_unsigned()) fail(field + "." + key, "expected a non-negative integer");
        (std::string(key) == "start" ? s.start : s.stop) = v.get<size_t>();
      }
      t.decoder.push_back(s);
    } else {
      unsupported(field + ".type", "decoder " + quote(type));
    }
  }

  // The special-token ids a post-processor item names.
  std::vector<int64_t> special_ids(const Tokenizer::Impl& t, const json& p, const std::string& name, const std::string& field) const {
    const json& specials = need(p, "special_tokens", field);
    if (specials.is_object() && specials.contains(name)) {
      const json& ids = need(specials[name], "ids", field + ".special_tokens." + name);
      std::vector<int64_t> out;
      if (!ids.is_array()) fail(field + ".special_tokens." + name + ".ids", "expected an array of ids");
      for (const json& v : ids) {
        if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= t.size() || !t.has_id[v.get<int64_t>()])
          fail(field + ".special_tokens." + name + ".ids", "expected ids of the vocabulary");
        out.push_back(v.get<int64_t>());
      }
      return out;
    }
    fail(field + ".special_tokens", "no entry " + quote(name));
  }

  void post_processor(Tokenizer::Impl& t, const json& p, const std::string& field) const {
    if (p.is_null()) return;
    std::string type = type_of(p, field);
    if (type == "Sequence") {
      const json& list = need(p, "processors", field);
      if (!list.is_array()) fail(field + ".processors", "expected an array");
      for (size_t k = 0; k < list.size(); ++k) post_processor(t, list[k], field + ".processors[" + std::to_string(k) + "]");
    } else if (type == "ByteLevel") {
      // Offsets only.
    } else if (type == "TemplateProcessing") {
      const json& single = need(p, "single", field);
      if (!single.is_array()) fail(field + ".single", "expected an array");
      std::vector<int64_t> pre, post;
      bool seen_a = false;
      for (size_t k = 0; k < single.size(); ++k) {
        std::string f = field + ".single[" + std::to_string(k) + "]";
        const json& item = single[k];
        if (item.is_object() && item.contains("SpecialToken")) {
          auto ids = special_ids(t, p, str(item["SpecialToken"], "id", f + ".SpecialToken"), field);
          (seen_a ? post : pre).insert((seen_a ? post : pre).end(), ids.begin(), ids.end());
        } else if (item.is_object() && item.contains("Sequence")) {
          if (str(item["Sequence"], "id", f + ".Sequence") != "A" || seen_a) fail(f, "expected the sequence A once");
          seen_a = true;
        } else {
          fail(f, "expected {\"SpecialToken\": ...} or {\"Sequence\": ...}");
        }
      }
      if (!seen_a) fail(field + ".single", "no sequence A");
      t.prefix.insert(t.prefix.begin(), pre.begin(), pre.end());
      t.suffix.insert(t.suffix.end(), post.begin(), post.end());
    } else if (type == "RobertaProcessing" || type == "BertProcessing") {
      for (const char* key : {"cls", "sep"}) {
        const json& v = need(p, key, field);
        if (!v.is_array() || v.size() != 2 || !v[1].is_number_integer()) fail(field + "." + key, "expected [token, id]");
        (std::string(key) == "cls" ? t.prefix : t.suffix).push_back(v[1].get<int64_t>());
      }
    } else {
      unsupported(field + ".type", "post-processor " + quote(type));
    }
  }

  void vocab(Tokenizer::Impl& t, const json& v, const std::string& field) const {
    if (!v.is_object()) fail(field, "expected an object of token: id");
    std::vector<const std::string*> seen;
    for (auto it = v.begin(); it != v.end(); ++it) {
      const json& id = it.value();
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX)
        fail(field + "[" + quote(it.key()) + "]", "expected a non-negative integer id, got " + id.dump());
      int32_t i = id.get<int32_t>();
      if (i < int64_t(t.has_id.size()) && t.has_id[i])
        fail(field + "[" + quote(it.key()) + "]", "id " + std::to_string(i) + " is also the id of " + quote(t.id_to_tok[i]));
      t.model_vocab.emplace(it.key(), i);
      t.set_token(i, it.key());
    }
  }

  int32_t vocab_id(const Tokenizer::Impl& t, const std::string& tok, const std::string& field) const {
    auto it = t.model_vocab.find(tok);
    if (it == t.model_vocab.end()) fail(field, quote(tok) + " is not in model.vocab");
    return it->second;
  }

  void add_merge(Tokenizer::Impl& t, const std::string& a, const std::string& b, int32_t rank, const std::string& field) const {
    int32_t ia = vocab_id(t, a, field), ib = vocab_id(t, b, field);
    auto it = t.model_vocab.find(a + b);
    if (it == t.model_vocab.end()) fail(field, "the merge " + quote(a + b) + " is not in model.vocab");
    t.merges.add(ia, ib, rank, it->second);
  }

  void model(Tokenizer::Impl& t, const json& m) const {
    if (!m.is_object()) fail("model", "expected an object");
    std::string type = m.contains("type") ? str(m, "type", "model") : "BPE";
    if (type != "BPE") unsupported("model.type", quote(type) + " (only BPE is)");
    vocab(t, need(m, "vocab", "model"), "model.vocab");
    const json& merges = need(m, "merges", "model");
    if (!merges.is_array()) fail("model.merges", "expected an array");
    for (size_t k = 0; k < merges.size(); ++k) {
      std::string f = "model.merges[" + std::to_string(k) + "]";
      const json& e = merges[k];
      std::string a, b;
      if (e.is_string()) {
        const std::string& s = e.get_ref<const std::string&>();
        size_t sp = s.find(' ');
        if (sp == std::string::npos || sp == 0 || sp + 1 == s.size() || s.find(' ', sp + 1) != std::string::npos)
          fail(f, "expected two tokens separated by one space, got " + quote(s));
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
        a = e[0].get<std::string>();
        b = e[1].get<std::string>();
      } else {
        fail(f, "expected \"left right\" or [left, right], got " + e.dump());
      }
      add_merge(t, a, b, int32_t(k), f);
    }
    if (m.contains("dropout") && !m["dropout"].is_null() && !(m["dropout"].is_number() && m["dropout"].get<double>() == 0))
      unsupported("model.dropout", "BPE dropout");
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
      if (m.contains(key) && !m[key].is_null() && !(m[key].is_string() && m[key].get<std::string>().empty()))
        unsupported(std::string("model.") + key, "a non-empty " + std::string(key));
    t.byte_fallback = flag(m, "byte_fallback", "model", false);
    t.ignore_merges = flag(m, "ignore_merges", "model", false);
    t.fuse_unk = flag(m, "fuse_unk", "model", false);
    if (m.contains("unk_token") && !m["unk_token"].is_null()) {
      std::string u = str(m, "unk_token", "model");
      t.unk = vocab_id(t, u, "model.unk_token");
    }
  }

  void added_tokens(Tokenizer::Impl& t, const json& list) const {
    if (list.is_null()) return;
    if (!list.is_array()) fail("added_tokens", "expected an array");
    for (size_t k = 0; k < list.size(); ++k) {
      std::string f = "added_tokens[" + std::to_string(k) + "]";
      const json& a = list[k];
      AddedToken tok;
      const json& id = need(a, "id", f);
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX)
        fail(f + ".id", "expected a non-negative integer id, got " + id.dump());
      tok.id = id.get<int64_t>();
      tok.content = str(a, "content", f);
      if (tok.content.empty()) fail(f + ".content", "empty");
      tok.special = flag(a, "special", f, false);
      tok.lstrip = flag(a, "lstrip", f, false);
      tok.rstrip = flag(a, "rstrip", f, false);
      tok.single_word = flag(a, "single_word", f, false);
      auto known = t.model_vocab.find(tok.content);
      if (tok.id < t.size() && t.has_id[tok.id] && !t.added_by_id.count(tok.id) && t.id_to_tok[tok.id] != tok.content)
        fail(f + ".id", "id " + std::to_string(tok.id) + " is " + quote(t.id_to_tok[tok.id]) + " in model.vocab");
      if (known != t.model_vocab.end() && known->second != tok.id)
        fail(f + ".content", quote(tok.content) + " has id " + std::to_string(known->second) + " in model.vocab");
      if (t.added_by_id.count(tok.id)) fail(f + ".id", "id " + std::to_string(tok.id) + " given twice");
      t.add_token(tok);
    }
  }
};

// bos/eos/pad from a tokenizer_config.json beside the tokenizer, else from well-known token names.
void special_roles(Tokenizer::Impl& t, const fs::path& config) {
  auto pick = [&](std::initializer_list<const char*> names) -> std::optional<int64_t> {
    for (const char* n : names)
      if (auto id = t.find(n)) return id;
    return std::nullopt;
  };
  t.bos = pick({"<|begin_of_text|>", "<s>", "<bos>", "<|endoftext|>"});
  t.eos = pick({"<|end_of_text|>", "</s>", "<eos>", "<|endoftext|>"});
  t.pad = pick({"<pad>", "<|pad|>", "[PAD]"});
  if (config.empty() || !fs::is_regular_file(config)) return;
  json c = read_json(config);
  if (!c.is_object()) throw InputError(config.string(), "", "expected a JSON object");
  for (auto [key, slot] : {std::pair{"bos_token", &t.bos}, {"eos_token", &t.eos}, {"pad_token", &t.pad}}) {
    if (!c.contains(key) || c[key].is_null()) continue;
    const json& v = c[key];
    std::string name;
    if (v.is_string()) name = v.get<std::string>();
    else if (v.is_object() && v.contains("content") && v["content"].is_string()) name = v["content"].get<std::string>();
    else throw InputError(config.string(), key, "expected a token string or {\"content\": ...}");
    auto id = t.find(name);
    if (!id) throw InputError(config.string(), key, quote(name) + " is not a token of the tokenizer");
    *slot = id;
  }
}

std::string describe_pre(const Tokenizer::Impl& t) {
  for (const auto& p : t.pre)
    if (!p.byte_level || p.use_regex) return p.pattern == SplitPattern::Gpt2 ? " (GPT-2 split)" : " (Llama 3 split)";
  return "";
}

std::unique_ptr<Tokenizer> load_tokenizer_json(const fs::path& path, const fs::path& config) {
  auto t = std::make_shared<Tokenizer::Impl>();
  Loader L{path.string()};
  json j = read_json(path);
  if (!j.is_object()) L.fail("", "expected a JSON object");
  if (!j.contains("model") || j["model"].is_null()) L.fail("model", "missing");
  L.model(*t, j["model"]);
  L.added_tokens(*t, j.value("added_tokens", json()));
  L.normalizer(*t, j.value("normalizer", json()), "normalizer");
  L.pre_tokenizer(*t, j.value("pre_tokenizer", json()), "pre_tokenizer");
  L.post_processor(*t, j.value("post_processor", json()), "post_processor");
  L.decoder(*t, j.value("decoder", json()), "decoder");
  t->finish_bpe();
  t->index_added();
  special_roles(*t, config);
  t->kind = (t->byte_level ? "byte-level BPE" + describe_pre(*t) : std::string(t->byte_fallback ? "BPE with byte fallback" : "BPE"));
  return std::make_unique<Tokenizer>(t);
}

// GPT-2's vocab.json (encoder.json) + merges.txt (vocab.bpe).
std::unique_ptr<Tokenizer> load_gpt2_files(const fs::path& vocab_path, const fs::path& merges_path) {
  auto t = std::make_shared<Tokenizer::Impl>();
  Loader L{vocab_path.string()};
  L.vocab(*t, read_json(vocab_path), "");
  std::ifstream in(merges_path, std::ios::binary);
  if (!in) throw InputError(merges_path.string(), "", "cannot read");
  Loader M{merges_path.string()};
  std::string line;
  int32_t rank = 0;
  for (size_t n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (n == 1 && line.rfind("#version", 0) == 0)) continue;
    size_t sp = line.find(' ');
    std::string f = "line " + std::to_string(n);
    if (sp == std::string::npos || sp == 0 || sp + 1 == line.size() || line.find(' ', sp + 1) != std::string::npos)
      M.fail(f, "expected two tokens separated by one space, got " + quote(line));
    M.add_merge(*t, line.substr(0, sp), line.substr(sp + 1), rank++, f);
  }
  t->pre.push_back({true, SplitPattern::Gpt2, true, false});
  t->byte_level = true;
  t->has_decoder = true;
  t->decoder.push_back({Tokenizer::Impl::Dec::ByteLevel, "", ""});
  auto eot = t->model_vocab.find("<|endoftext|>");
  if (eot != t->model_vocab.end()) {
    AddedToken a;
    a.content = eot->first;
    a.id = eot->second;
    t->add_token(a);
    t->bos = t->eos = a.id;
  }
  t->finish_bpe();
  t->index_added();
  t->kind = "byte-level BPE (GPT-2 split)";
  return std::make_unique<Tokenizer>(t);
}

}  // namespace

std::unique_ptr<Tokenizer> byte_tokenizer() {
  auto t = std::make_shared<Tokenizer::Impl>();
  t->raw_bytes_model = true;
  for (int b = 0; b < 256; ++b) t->set_token(b, hex_byte_token(b));
  for (auto [name, id] : {std::pair{"<pad>", 256}, {"<bos>", 257}, {"<eos>", 258}}) {
    AddedToken a;
    a.content = name;
    a.id = id;
    t->add_token(a);
  }
  for (int b = 0; b < 256; ++b) t->model_vocab[hex_byte_token(b)] = b;
  t->index_added();
  t->pad = 256;
  t->bos = 257;
  t->eos = 258;
  t->prefix = {257};
  t->kind = "bytes";
  return std::make_unique<Tokenizer>(t);
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  if (path == "bytes" || path == "byte") return byte_tokenizer();
  fs::path p(path);
  std::error_code ec;
  if (fs::is_regular_file(p, ec)) return load_tokenizer_json(p, p.parent_path() / "tokenizer_config.json");
  if (!fs::is_directory(p, ec))
    throw InputError(path, "", "no such file or folder (expected tokenizer.json, a folder with it, or \"bytes\")");
  if (fs::is_regular_file(p / "tokenizer.json")) return load_tokenizer_json(p / "tokenizer.json", p / "tokenizer_config.json");
  for (const char* v : {"vocab.json", "encoder.json"})
    for (const char* m : {"merges.txt", "vocab.bpe"})
      if (fs::is_regular_file(p / v) && fs::is_regular_file(p / m)) return load_gpt2_files(p / v, p / m);
  throw InputError(path, "", "no tokenizer.json, and no vocab.json/encoder.json with merges.txt/vocab.bpe");
}

// ---------------------------------------------------------------------------------------------------

Tokenizer::Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

std::vector<int64_t> Tokenizer::encode(const std::string& text, bool add_special) const {
  return impl_->encode(text, add_special, true);
}
std::vector<int64_t> Tokenizer::encode_ordinary(const std::string& text) const { return impl_->encode(text, false, false); }
std::string Tokenizer::decode(const std::vector<int64_t>& ids, bool skip_special) const {
  return impl_->decode(ids, skip_special);
}
int64_t Tokenizer::vocab_size() const { return impl_->size(); }
std::optional<int64_t> Tokenizer::token_to_id(const std::string& token) const { return impl_->find(token); }
std::optional<std::string> Tokenizer::id_to_token(int64_t id) const {
  if (id < 0 || id >= impl_->size() || !impl_->has_id[id]) return std::nullopt;
  return impl_->id_to_tok[id];
}
std::optional<int64_t> Tokenizer::bos_id() const { return impl_->bos; }
std::optional<int64_t> Tokenizer::eos_id() const { return impl_->eos; }
std::optional<int64_t> Tokenizer::pad_id() const { return impl_->pad; }
std::optional<int64_t> Tokenizer::unk_id() const {
  if (impl_->unk) return int64_t(*impl_->unk);
  return std::nullopt;
}
const std::vector<AddedToken>& Tokenizer::added_tokens() const { return impl_->added; }
std::string Tokenizer::describe() const { return impl_->kind + ", " + std::to_string(impl_->size()) + " ids"; }

}  // namespace paramkit::text
