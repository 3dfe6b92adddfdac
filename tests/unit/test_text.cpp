// Tokenizers (paramkit_text): goldens of @lenml/tokenizers for GPT-2, Llama 2 and Llama 3
// (tests/data/tokenizers/golden.mjs), hand-checked splits, the byte tokenizer and malformed files.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "helpers.h"
#include "paramkit/core/error.h"
#include "paramkit/io/json.h"
#include "paramkit/text/bpe.h"
#include "paramkit/text/pretokenize.h"
#include "paramkit/text/tokenizer.h"
#include "paramkit/text/unicode.h"

using namespace paramkit::text;
using paramkit::test::data_file;
using paramkit::test::scratch;
using paramkit::test::spit;
namespace fs = std::filesystem;
using Ids = std::vector<int64_t>;

namespace {

// data/tokenizers/<name> as scripts/fetch-tokenizers.sh leaves it ($DATA_DIR like the fetch scripts).
std::string fetched(const std::string& name) {
  const char* env = std::getenv("DATA_DIR");
  return std::string(env && *env ? env : PARAMKIT_DATA_DIR) + "/tokenizers/" + name;
}

bool have(const std::string& name) {
  if (fs::exists(fetched(name))) return true;
  MESSAGE("skipped: " << fetched(name) << " missing (run scripts/fetch-tokenizers.sh)");
  return false;
}

std::vector<std::string> split(const std::string& text, SplitPattern p) {
  std::vector<std::string> out;
  for (auto [a, b] : split_text(text, p)) out.push_back(text.substr(a, b - a));
  return out;
}

// Tokenizer.json of a tiny char-level BPE: a b c, merges a+b, ab+c, and an added <eos>.
nlohmann::json tiny_json() {
  return nlohmann::json::parse(R"({
    "added_tokens": [{"id": 6, "content": "<eos>", "special": true}, {"id": 7, "content": "<sep>", "special": false}],
    "normalizer": null, "pre_tokenizer": null, "post_processor": null, "decoder": {"type": "Fuse"},
    "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": true,
              "vocab": {"a": 0, "b": 1, "c": 2, "ab": 3, "abc": 4, "<unk>": 5},
              "merges": ["a b", "ab c"]}})");
}

std::unique_ptr<Tokenizer> load_json(const nlohmann::json& j, const std::string& name) {
  auto dir = scratch("text-" + name);
  spit(dir / "tokenizer.json", j.dump());
  return load_tokenizer((dir / "tokenizer.json").string());
}

// The message of the InputError that loading j gives ("" if it loads).
std::string load_error(const nlohmann::json& j, const std::string& name) {
  try {
    load_json(j, name);
  } catch (const paramkit::InputError& e) {
    return e.what();
  }
  return "";
}

struct Golden {
  nlohmann::json j;
  Golden() : j(paramkit::read_json(data_file("tokenizers/golden.json"))) {}
};

void check_golden(const std::string& name, const std::string& path) {
  Golden g;
  auto tok = load_tokenizer(path);
  const auto& texts = g.j["texts"];
  const auto& rows = g.j["tokenizers"][name];
  REQUIRE(texts.size() == rows.size());
  REQUIRE(texts.size() >= 42);
  size_t round_trips = 0;
  for (size_t k = 0; k < texts.size(); ++k) {
    std::string text = texts[k].get<std::string>();
    CAPTURE(k);
    CAPTURE(text);
    Ids ids = tok->encode(text);
    CHECK(ids == rows[k]["ids"].get<Ids>());
    CHECK(tok->encode(text, true) == rows[k]["ids_special"].get<Ids>());
    std::string decoded = rows[k]["decoded"].get<std::string>();
    CHECK(tok->decode(ids) == decoded);
    if (decoded == text) ++round_trips;
  }
  MESSAGE(name << ": " << texts.size() << " texts equal to the goldens, " << round_trips << " decode back to the text");
  if (name != "llama2") CHECK(round_trips == texts.size());
}

}  // namespace

TEST_CASE("text: Unicode classes and UTF-8") {
  CHECK(char_class('a') == CharClass::Letter);
  CHECK(char_class('7') == CharClass::Number);
  CHECK(char_class(' ') == CharClass::Space);
  CHECK(char_class('\t') == CharClass::Space);
  CHECK(char_class('!') == CharClass::Other);
  CHECK(char_class(0x4E2D) == CharClass::Letter);   // 中
  CHECK(char_class(0x0661) == CharClass::Number);   // Arabic-Indic one
  CHECK(char_class(0x2167) == CharClass::Number);   // Ⅷ (Nl)
  CHECK(char_class(0x00A0) == CharClass::Space);
  CHECK(char_class(0x0085) == CharClass::Space);
  CHECK(char_class(0x3000) == CharClass::Space);
  CHECK(char_class(0xFEFF) == CharClass::Other);    // not White_Space
  CHECK(char_class(0x0301) == CharClass::Other);    // combining acute (Mn)
  CHECK(char_class(0x1F44D) == CharClass::Other);   // 👍
  CHECK(char_class(0x20000) == CharClass::Letter);  // CJK extension B
  CHECK(char_class(invalid_utf8_byte) == CharClass::Other);
  CHECK(std::string(unicode_version()) == "15.1.0");

  char32_t cp;
  CHECK(utf8_next("\xE2\x82\xAC", 0, cp) == 3);
  CHECK(cp == 0x20AC);
  CHECK(utf8_next("\xC0\x80", 0, cp) == 1);  // overlong
  CHECK(cp == invalid_utf8_byte);
  CHECK(utf8_next("\xED\xA0\x80", 0, cp) == 1);  // surrogate
  // Rust's from_utf8_lossy: one U+FFFD per maximal invalid subsequence.
  CHECK(utf8_lossy("a\xF0\x9F\x98") == "a\xEF\xBF\xBD");
  CHECK(utf8_lossy("\xC0\x80z") == "\xEF\xBF\xBD\xEF\xBF\xBDz");
  CHECK(utf8_lossy("\xE2\x82\xAC") == "\xE2\x82\xAC");
}

TEST_CASE("text: GPT-2 split by hand") {
  using V = std::vector<std::string>;
  CHECK(split("Hello world", SplitPattern::Gpt2) == V{"Hello", " world"});
  CHECK(split("a  b", SplitPattern::Gpt2) == V{"a", " ", " b"});
  CHECK(split("it's 'S", SplitPattern::Gpt2) == V{"it", "'s", " '", "S"});
  CHECK(split("x \t\n y  ", SplitPattern::Gpt2) == V{"x", " \t\n", " y", "  "});
  CHECK(split("\tb", SplitPattern::Gpt2) == V{"\t", "b"});
  CHECK(split("abc123 45!!?", SplitPattern::Gpt2) == V{"abc", "123", " 45", "!!?"});
  CHECK(split("", SplitPattern::Gpt2).empty());
  CHECK(split("a\xFF" "b", SplitPattern::Gpt2) == V{"a", "\xFF", "b"});
}

TEST_CASE("text: Llama 3 split by hand") {
  using V = std::vector<std::string>;
  CHECK(split("HE'S here's", SplitPattern::Llama3) == V{"HE", "'S", " here", "'s"});
  CHECK(split("I'MOK 'Sabc", SplitPattern::Llama3) == V{"I", "'M", "OK", " '", "Sabc"});  // (?i:'m) first
  CHECK(split("I'MOK", SplitPattern::Gpt2) == V{"I", "'", "MOK"});  // GPT-2's contractions are lower case
  CHECK(split("1234567", SplitPattern::Llama3) == V{"123", "456", "7"});
  CHECK(split("a\n\n b", SplitPattern::Llama3) == V{"a", "\n\n", " b"});
  CHECK(split("x  \n  y", SplitPattern::Llama3) == V{"x", "  \n", " ", " y"});
  CHECK(split("\tb (c)\n\nd", SplitPattern::Llama3) == V{"\tb", " (", "c", ")\n\n", "d"});
  CHECK(split("end   ", SplitPattern::Llama3) == V{"end", "   "});
}

TEST_CASE("text: linear splits and BPE on long runs") {
  // 100k spaces then a word, and a 10k-letter word through BPE: pieces and merges stay O(n log n).
  std::string spaces(100000, ' ');
  auto pieces = split(spaces + "x", SplitPattern::Llama3);
  REQUIRE(pieces.size() == 2);
  CHECK(pieces[0].size() == 99999);
  CHECK(pieces[1] == " x");

  BpeMerges m;  // a+a -> aa (2), aa+aa -> aaaa (3)
  m.add(0, 0, 0, 2);
  m.add(2, 2, 1, 3);
  std::vector<int32_t> sym(10001, 0);
  m.apply(sym);
  std::vector<int32_t> want(2500, 3);
  want.push_back(0);
  CHECK(sym == want);
}

TEST_CASE("text: tiny tokenizer.json, merges, added tokens, unk") {
  auto tok = load_json(tiny_json(), "tiny");
  CHECK(tok->encode("abcab") == Ids{4, 3});
  CHECK(tok->encode("ab<eos>c") == Ids{3, 6, 2});
  CHECK(tok->encode("<sep><eos>") == Ids{7, 6});
  CHECK(tok->encode_ordinary("<eos>") == Ids{5});  // <, e, o, s, > are unknown and fused into one <unk>
  CHECK(tok->encode("xxa") == Ids{5, 0});
  CHECK(tok->decode({4, 6, 3}) == "abc<eos>ab");
  CHECK(tok->decode({4, 6, 7, 3}, true) == "abc<sep>ab");  // <sep> is not special
  CHECK(tok->vocab_size() == 8);
  CHECK(tok->token_to_id("abc") == 4);
  CHECK(tok->token_to_id("<eos>") == 6);
  CHECK(!tok->token_to_id("zz"));
  CHECK(tok->id_to_token(3) == std::optional<std::string>("ab"));
  CHECK(!tok->id_to_token(99));
  CHECK(tok->unk_id() == 5);
  CHECK(tok->eos_id() == 6);
  CHECK(!tok->bos_id());
  CHECK(tok->added_tokens().size() == 2);
  CHECK_THROWS_AS(tok->decode({99}), paramkit::InputError);
}

TEST_CASE("text: byte tokenizer round trip") {
  auto tok = load_tokenizer("bytes");
  CHECK(tok->vocab_size() == 259);
  CHECK(tok->pad_id() == 256);
  CHECK(tok->bos_id() == 257);
  CHECK(tok->eos_id() == 258);
  std::string all;
  for (int b = 0; b < 256; ++b) all += char(b);
  for (std::string text : {std::string("Hello, world!"), std::string("caf\xC3\xA9 \xF0\x9F\x91\x8D"), all,
                           std::string("\xFF\xFE invalid \xC0"), std::string()}) {
    Ids ids = tok->encode(text);
    CHECK(ids.size() == text.size());
    CHECK(tok->decode(ids) == text);
  }
  CHECK(tok->encode("hi", true) == Ids{257, 'h', 'i'});
  CHECK(tok->encode("a<eos>") == Ids{'a', 258});
  CHECK(tok->encode_ordinary("<eos>").size() == 5);
  CHECK(tok->decode({257, 'o', 'k', 258}) == "<bos>ok<eos>");
  CHECK(tok->decode({257, 'o', 'k', 258}, true) == "ok");
  CHECK(tok->token_to_id("<0x41>") == 65);
  CHECK(load_tokenizer("byte")->vocab_size() == 259);
}

TEST_CASE("text: GPT-2 vocab.json and merges.txt folder") {
  // Byte-level: 'Ġ' is the space. h e l o Ġ, merges h+e, l+l, he+ll, hell+o, Ġ+h.
  auto dir = scratch("text-gpt2-files");
  spit(dir / "vocab.json", R"({"h":0,"e":1,"l":2,"o":3,"\u0120":4,"he":5,"ll":6,"hell":7,"hello":8,"\u0120h":9,"<|endoftext|>":10})");
  spit(dir / "merges.txt", "#version: 0.2\nh e\nl l\nhe ll\nhell o\n\u0120 h\n");
  auto tok = load_tokenizer(dir.string());
  // " hello": h+e (rank 0) before Ġ+h (rank 4), so Ġ stays alone.
  CHECK(tok->encode("hello hello<|endoftext|>") == Ids{8, 4, 8, 10});
  CHECK(tok->encode("hhello") == Ids{0, 8});
  CHECK(tok->decode({8, 4, 8, 10}) == "hello hello<|endoftext|>");
  CHECK(tok->decode({8, 10}, true) == "hello");
  CHECK(tok->bos_id() == 10);
  CHECK(tok->eos_id() == 10);
  spit(dir / "merges.txt", "#version: 0.2\nh e\nl l x\n");
  try {
    load_tokenizer(dir.string());
    FAIL("no error");
  } catch (const paramkit::InputError& e) {
    CHECK(std::string(e.what()).find("merges.txt: line 3") != std::string::npos);
  }
}

TEST_CASE("text: malformed tokenizer.json names file and field") {
  auto has = [](const std::string& msg, const std::string& part) {
    CAPTURE(msg);
    CHECK(msg.find("tokenizer.json") != std::string::npos);
    CHECK(msg.find(part) != std::string::npos);
  };
  nlohmann::json j = tiny_json();
  j.erase("model");
  has(load_error(j, "no-model"), "model: missing");

  j = tiny_json();
  j["model"]["merges"][1] = "abc";
  has(load_error(j, "bad-merge"), "model.merges[1]: expected two tokens");
  j["model"]["merges"][1] = "a z";
  has(load_error(j, "merge-oov"), "model.merges[1]: 'z' is not in model.vocab");
  j["model"]["merges"][1] = "b c";
  has(load_error(j, "merge-result"), "model.merges[1]: the merge 'bc' is not in model.vocab");
  j["model"]["merges"][1] = 5;
  has(load_error(j, "merge-type"), "model.merges[1]");

  j = tiny_json();
  j["model"]["type"] = "Unigram";
  has(load_error(j, "unigram"), "model.type: 'Unigram'");

  j = tiny_json();
  j["model"]["vocab"]["ab"] = -3;
  has(load_error(j, "neg-id"), "model.vocab['ab']: expected a non-negative integer id");
  j["model"]["vocab"]["ab"] = "x";
  has(load_error(j, "str-id"), "model.vocab['ab']");
  j["model"]["vocab"]["ab"] = 0;
  has(load_error(j, "dup-id"), "is also the id of");

  j = tiny_json();
  j["normalizer"] = {{"type", "NFKC"}};
  has(load_error(j, "nfkc"), "normalizer.type: normalizer 'NFKC' is not supported");
  j = tiny_json();
  j["pre_tokenizer"] = nlohmann::json::parse(R"({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\w+"}, "behavior": "Isolated"}]})");
  has(load_error(j, "regex"), "pre_tokenizer.pretokenizers[0].pattern");
  j = tiny_json();
  j["decoder"] = {{"type", "WordPiece"}};
  has(load_error(j, "wordpiece"), "decoder.type");
  j = tiny_json();
  j["added_tokens"][0]["id"] = 2;
  has(load_error(j, "added-id"), "added_tokens[0].id");
  j = tiny_json();
  j["model"]["dropout"] = 0.1;
  has(load_error(j, "dropout"), "model.dropout");

  auto dir = scratch("text-bad-json");
  spit(dir / "tokenizer.json", "{\"model\": ");
  CHECK_THROWS_AS(load_tokenizer((dir / "tokenizer.json").string()), paramkit::InputError);
  CHECK_THROWS_AS(load_tokenizer((dir / "absent").string()), paramkit::InputError);
  fs::create_directories(dir / "empty");
  CHECK_THROWS_AS(load_tokenizer((dir / "empty").string()), paramkit::InputError);
}

TEST_CASE("text: GPT-2 tokenizer equals the goldens") {
  if (!have("gpt2")) return;
  check_golden("gpt2", fetched("gpt2"));
  auto tok = load_tokenizer(fetched("gpt2"));
  CHECK(tok->vocab_size() == 50257);
  CHECK(tok->eos_id() == 50256);
}

TEST_CASE("text: Llama 3 tokenizer equals the goldens") {
  if (!have("llama3")) return;
  check_golden("llama3", fetched("llama3"));
  auto tok = load_tokenizer(fetched("llama3") + "/tokenizer.json");
  CHECK(tok->vocab_size() == 128256);
  CHECK(tok->bos_id() == 128000);
  CHECK(tok->eos_id() == 128001);
  CHECK(tok->encode("<|begin_of_text|>Hi<|eot_id|>") == Ids{128000, 13347, 128009});
  Ids plain = tok->encode_ordinary("<|eot_id|>");
  CHECK(plain.size() > 1);
  CHECK(tok->decode(plain) == "<|eot_id|>");
  CHECK(tok->decode({128000, 13347, 128009}, true) == "Hi");
  // ignore_merges: a piece that is in the vocabulary comes out whole, though its merges would give 3 tokens.
  CHECK(tok->encode(" vi\xE1\xBB\x87" "c").size() == 1);  // " việc"
}

TEST_CASE("text: Llama 2 style tokenizer equals the goldens") {
  if (!have("llama2")) return;
  check_golden("llama2", fetched("llama2"));
  auto tok = load_tokenizer(fetched("llama2"));
  CHECK(tok->vocab_size() == 32000);
  CHECK(tok->bos_id() == 1);
  CHECK(tok->eos_id() == 2);
  CHECK(tok->unk_id() == 0);
  // Sentencepiece's leading space: "▁" is prepended, and the decoder strips one leading space again.
  for (std::string text : {"Hello", " Hello", "  two", "a\nb", "\xF0\xA0\x9C\x8E"}) {
    CAPTURE(text);
    CHECK(tok->decode(tok->encode(text)) == text);
  }
  CHECK(tok->encode("Hello", true).front() == 1);
  // Byte fallback: a character outside the vocabulary becomes its UTF-8 bytes as <0xNN> tokens.
  Ids rare = tok->encode("\xF0\xA0\x9C\x8E");  // U+2070E
  REQUIRE(rare.size() == 5);
  CHECK(tok->id_to_token(rare[1]) == std::optional<std::string>("<0xF0>"));
  CHECK(tok->id_to_token(rare[4]) == std::optional<std::string>("<0x8E>"));
}
