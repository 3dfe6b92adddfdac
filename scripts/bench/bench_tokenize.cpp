// Tokenizer speed: load time, encode and decode throughput of one tokenizer on one text file, plus the
// pathological inputs (a 10k-letter word, 1M spaces). Prints one JSON object. Used by tokenize.sh.
// Usage: bench-tokenize TOKENIZER TEXT_FILE
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "paramkit/text/tokenizer.h"

namespace {
double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: bench-tokenize TOKENIZER TEXT_FILE\n");
    return 2;
  }
  std::ifstream in(argv[2], std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  double t0 = now();
  auto tok = paramkit::text::load_tokenizer(argv[1]);
  double t1 = now();
  auto ids = tok->encode(text);
  double t2 = now();
  std::string back = tok->decode(ids);
  double t3 = now();
  // Round trip without special-token matching: Llama 2's "<s>" in the text would decode as "<s> ".
  bool round_trip = tok->decode(tok->encode_ordinary(text)) == text;
  std::string word(10000, 'x');
  for (size_t i = 0; i < word.size(); i += 7) word[i] = 'a' + (i / 7) % 26;
  double t4 = now();
  size_t word_ids = tok->encode(word).size();
  double t5 = now();
  size_t space_ids = tok->encode(std::string(1000000, ' ') + "x").size();
  double t6 = now();
  nlohmann::json j = {{"tokenizer", argv[1]},
                      {"describe", tok->describe()},
                      {"bytes", text.size()},
                      {"tokens", ids.size()},
                      {"load_s", t1 - t0},
                      {"encode_s", t2 - t1},
                      {"encode_mb_per_s", text.size() / 1e6 / (t2 - t1)},
                      {"decode_mb_per_s", text.size() / 1e6 / (t3 - t2)},
                      {"round_trip", round_trip},
                      {"word_10k_s", t5 - t4},
                      {"word_10k_tokens", word_ids},
                      {"spaces_1m_s", t6 - t5},
                      {"spaces_1m_tokens", space_ids}};
  std::printf("%s\n", j.dump().c_str());
}
