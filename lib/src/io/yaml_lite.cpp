// The YAML subset parser: lines -> (indent, content) -> recursive descent over indentation.
#include "paramkit/io/yaml_lite.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "paramkit/core/error.h"

namespace paramkit {
namespace {

// Deeper nesting is no config anyone writes; bounding it keeps the recursion off the end of the stack
// (a line of 100000 '[' used to overflow it).
constexpr int kMaxDepth = 64;

// A quote opens a quoted scalar only where a scalar starts (line start, after a space, '[', '{' or ','):
// the apostrophe of "base_model: Qwen's-model # note" is text, and the comment is still a comment.
bool opens_quote(const std::string& s, size_t i) {
  if (s[i] != '"' && s[i] != '\'') return false;
  if (i == 0) return true;
  const char p = s[i - 1];
  return p == ' ' || p == '\t' || p == '[' || p == '{' || p == ',';
}

struct Line {
  int indent;
  std::string text;  // without indentation and comment
  size_t number;
};

class Parser {
 public:
  Parser(std::vector<Line> lines, std::string source) : lines_(std::move(lines)), source_(std::move(source)) {}

  nlohmann::json document() {
    if (lines_.empty()) return nlohmann::json::object();
    nlohmann::json v = block(lines_[0].indent);
    if (pos_ < lines_.size()) fail(lines_[pos_], "unexpected indentation");
    return v;
  }

 private:
  [[noreturn]] void fail(const Line& l, const std::string& what) {
    throw InputError(source_, "line " + std::to_string(l.number), what);
  }

  // One level of block or flow nesting for as long as it lives.
  struct Nest {
    Nest(Parser& p, const Line& l) : p_(p) {
      if (p_.depth_ >= kMaxDepth) p_.fail(l, "nesting deeper than " + std::to_string(kMaxDepth) + " levels");
      ++p_.depth_;
    }
    ~Nest() { --p_.depth_; }
    Nest(const Nest&) = delete;
    Nest& operator=(const Nest&) = delete;
    Parser& p_;
  };

  nlohmann::json block(int indent) {
    const Line& first = lines_[pos_];
    if (first.text.rfind("- ", 0) == 0 || first.text == "-") return sequence(indent);
    return mapping(indent);
  }

  nlohmann::json sequence(int indent) {
    Nest nest(*this, lines_[pos_]);
    nlohmann::json arr = nlohmann::json::array();
    while (pos_ < lines_.size() && lines_[pos_].indent == indent &&
           (lines_[pos_].text.rfind("- ", 0) == 0 || lines_[pos_].text == "-")) {
      Line l = lines_[pos_];
      std::string rest = l.text == "-" ? "" : trim(l.text.substr(2));
      if (rest.empty()) {
        ++pos_;
        if (pos_ < lines_.size() && lines_[pos_].indent > indent) arr.push_back(block(lines_[pos_].indent));
        else arr.push_back(nullptr);
        continue;
      }
      if (is_key(rest)) {
        // "- key: value" starts a mapping whose further keys sit at the item's content column.
        const int inner = indent + static_cast<int>(l.text.find(rest));
        lines_[pos_].indent = inner;
        lines_[pos_].text = rest;
        arr.push_back(mapping(inner));
        continue;
      }
      arr.push_back(scalar_or_flow(rest, l));
      ++pos_;
    }
    return arr;
  }

  nlohmann::json mapping(int indent) {
    Nest nest(*this, lines_[pos_]);
    nlohmann::json obj = nlohmann::json::object();
    while (pos_ < lines_.size() && lines_[pos_].indent == indent) {
      const Line l = lines_[pos_];
      if (l.text.rfind("- ", 0) == 0) fail(l, "a list item where a key was expected");
      size_t colon = key_colon(l.text);
      if (colon == std::string::npos) fail(l, "expected 'key: value'");
      std::string key = unquote(trim(l.text.substr(0, colon)), l);
      if (obj.contains(key)) fail(l, "duplicate key '" + key + "'");
      std::string rest = trim(l.text.substr(colon + 1));
      ++pos_;
      if (rest.empty()) {
        if (pos_ < lines_.size() && lines_[pos_].indent > indent) obj[key] = block(lines_[pos_].indent);
        else if (pos_ < lines_.size() && lines_[pos_].indent == indent && lines_[pos_].text.rfind("- ", 0) == 0)
          obj[key] = sequence(indent);  // a list may sit at its key's indentation
        else obj[key] = nullptr;
      } else {
        obj[key] = scalar_or_flow(rest, l);
      }
    }
    if (pos_ < lines_.size() && lines_[pos_].indent > indent) fail(lines_[pos_], "unexpected indentation");
    return obj;
  }

  static std::string trim(const std::string& s) {
    size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t");
    return a == std::string::npos ? "" : s.substr(a, b - a + 1);
  }

  static size_t key_colon(const std::string& s) {
    char q = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      if (q) {
        if (s[i] == q) q = 0;
      } else if (opens_quote(s, i)) {
        q = s[i];
      } else if (s[i] == ':' && (i + 1 == s.size() || s[i + 1] == ' ')) {
        return i;
      }
    }
    return std::string::npos;
  }

  static bool is_key(const std::string& s) { return s[0] != '[' && s[0] != '{' && key_colon(s) != std::string::npos; }

  std::string unquote(const std::string& s, const Line& l) {
    if (s.size() >= 2 && (s[0] == '"' || s[0] == '\'')) {
      if (s.back() != s[0]) fail(l, "unterminated quoted string");
      return s.substr(1, s.size() - 2);
    }
    return s;
  }

  nlohmann::json scalar_or_flow(const std::string& s, const Line& l) {
    if (s[0] == '[' || s[0] == '{') {
      size_t i = 0;
      nlohmann::json v = flow(s, i, l);
      skip_spaces(s, i);
      if (i != s.size()) fail(l, "unexpected text after a flow " + std::string(s[0] == '[' ? "list" : "mapping"));
      return v;
    }
    if (s[0] == '&' || s[0] == '*' || s[0] == '!' || s[0] == '|' || s[0] == '>')
      fail(l, "unsupported YAML ('" + s.substr(0, 1) + "'): use plain mappings, lists and scalars");
    return scalar(s, l);
  }

  static void skip_spaces(const std::string& s, size_t& i) {
    while (i < s.size() && s[i] == ' ') ++i;
  }

  // One flow value on one line: [a, b], {k: v, ...} (nested), quoted or plain scalars.
  nlohmann::json flow(const std::string& s, size_t& i, const Line& l) {
    skip_spaces(s, i);
    if (i >= s.size()) fail(l, "a flow list or mapping must close on the same line");
    const char open = s[i];
    if (open == '[' || open == '{') {
      Nest nest(*this, l);
      const char close = open == '[' ? ']' : '}';
      nlohmann::json out = open == '[' ? nlohmann::json::array() : nlohmann::json::object();
      ++i;
      skip_spaces(s, i);
      if (i < s.size() && s[i] == close) {
        ++i;
        return out;
      }
      for (;;) {
        if (open == '[') {
          out.push_back(flow(s, i, l));
        } else {
          nlohmann::json key = flow_scalar(s, i, l, true);
          if (i >= s.size() || s[i] != ':') fail(l, "expected 'key: value' in a flow mapping");
          ++i;
          std::string k = key.is_string() ? key.get<std::string>() : key.dump();
          if (out.contains(k)) fail(l, "duplicate key '" + k + "'");
          out[k] = flow(s, i, l);
        }
        skip_spaces(s, i);
        if (i >= s.size()) fail(l, "a flow list or mapping must close on the same line");
        if (s[i] == close) {
          ++i;
          return out;
        }
        if (s[i] != ',') fail(l, std::string("expected ',' or '") + close + "' in a flow collection");
        ++i;
      }
    }
    return flow_scalar(s, i, l, false);
  }

  nlohmann::json flow_scalar(const std::string& s, size_t& i, const Line& l, bool key) {
    skip_spaces(s, i);
    size_t b = i;
    if (i < s.size() && (s[i] == '"' || s[i] == '\'')) {
      const char q = s[i++];
      while (i < s.size() && s[i] != q) ++i;
      if (i >= s.size()) fail(l, "unterminated quoted string");
      ++i;
      std::string tok = s.substr(b, i - b);
      skip_spaces(s, i);
      return unquote(tok, l);
    }
    while (i < s.size() && s[i] != ',' && s[i] != ']' && s[i] != '}' && !(key && s[i] == ':') && s[i] != '[' && s[i] != '{')
      ++i;
    std::string tok = trim(s.substr(b, i - b));
    if (tok.empty()) fail(l, key ? "empty key in a flow mapping" : "empty item in a flow collection");
    if (i < s.size() && (s[i] == '[' || s[i] == '{')) fail(l, "unexpected '" + s.substr(i, 1) + "' in a flow collection");
    if (tok[0] == '&' || tok[0] == '*' || tok[0] == '!') fail(l, "unsupported YAML ('" + tok.substr(0, 1) + "')");
    return scalar(tok, l);
  }

  nlohmann::json scalar(const std::string& s, const Line& l) {
    if (s[0] == '"' || s[0] == '\'') return unquote(s, l);
    if (s == "true" || s == "True") return true;
    if (s == "false" || s == "False") return false;
    if (s == "null" || s == "~" || s == "Null") return nullptr;
    // A number is digits, signs, '.', 'e' and nothing else, read whole: "nan", "inf", "0x1p3", "1e999"
    // and text with a NUL byte stay strings; an integer past 64 bits is a double.
    if (s.find_first_not_of("0123456789+-.eE") != std::string::npos || s.find_first_of("0123456789") == std::string::npos)
      return s;
    const char* const full = s.c_str() + s.size();
    char* end = nullptr;
    errno = 0;
    long long i = std::strtoll(s.c_str(), &end, 10);
    if (end == full && errno == 0) return i;
    errno = 0;
    double d = std::strtod(s.c_str(), &end);
    if (end == full && std::isfinite(d)) return d;
    return s;
  }

  std::vector<Line> lines_;
  std::string source_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

nlohmann::json parse_yaml_lite(std::string_view text, const std::string& source) {
  std::vector<Line> lines;
  size_t number = 0, pos = 0;
  while (pos <= text.size()) {
    size_t e = text.find('\n', pos);
    if (e == std::string_view::npos) e = text.size();
    std::string raw(text.substr(pos, e - pos));
    pos = e + 1;
    ++number;
    if (!raw.empty() && raw.back() == '\r') raw.pop_back();
    // Strip a comment: '#' at the start or after a space, outside quotes.
    char q = 0;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (q) {
        if (raw[i] == q) q = 0;
      } else if (opens_quote(raw, i)) {
        q = raw[i];
      } else if (raw[i] == '#' && (i == 0 || raw[i - 1] == ' ' || raw[i - 1] == '\t')) {
        raw.resize(i);
        break;
      }
    }
    size_t ind = raw.find_first_not_of(' ');
    if (ind == std::string::npos) continue;
    if (raw[ind] == '\t') throw InputError(source, "line " + std::to_string(number), "tabs cannot indent YAML");
    std::string content = raw.substr(ind);
    size_t last = content.find_last_not_of(" \t");
    content.resize(last + 1);
    if (content == "---") continue;
    lines.push_back({static_cast<int>(ind), content, number});
  }
  return Parser(std::move(lines), source).document();
}

}  // namespace paramkit
