// Rewards of RL fine-tuning, on text (so a reward model may use another tokenizer than the policy):
// a reward-model checkpoint (scalar head, value at the last token), a verifiable rule, or an external
// command that reads JSON Lines on stdin ({"prompt", "response", "answer"} per line) and writes one
// score per line.
//
// --reward spellings: model:DIR (a score-head model folder with its tokenizer.json, or model:DIR@TOK
// for another tokenizer), rule:exact (the response, trimmed, equals the answer), rule:number (the
// first number in the response equals the answer numerically), rule:regex:PATTERN (1 when ECMAScript
// PATTERN matches the response), cmd:COMMAND (run by /bin/sh).
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "paramkit/lm/model.h"
#include "paramkit/text/tokenizer.h"

namespace paramkit::rlhf {

struct RewardQuery {
  const std::string* prompt = nullptr;
  const std::string* response = nullptr;
  const std::optional<std::string>* answer = nullptr;
};

class Reward {
 public:
  virtual ~Reward() = default;
  // One finite score per query. Error (exit 1) when a scorer fails or answers garbage, naming it.
  virtual std::vector<double> score(const std::vector<RewardQuery>& queries) = 0;
  virtual std::string describe() const = 0;
  // The rule needs reference answers (UsageError at start-up when the prompts file has none).
  virtual bool needs_answers() const { return false; }
};

// rule:exact, rule:number, rule:regex:PATTERN (UsageError naming --reward for anything else).
std::unique_ptr<Reward> make_rule_reward(const std::string& rule);
std::unique_ptr<Reward> make_command_reward(const std::string& command);
// A score-head model and the tokenizer that reads prompt + response for it. max_length: tokens kept
// (from the right: the end of the response is what the score reads).
std::unique_ptr<Reward> make_model_reward(lm::CausalLM model, std::shared_ptr<const text::Tokenizer> tokenizer, int64_t batch_size,
                                          int64_t max_length);
// Parses a --reward value (see above); model rewards load on `device`.
std::unique_ptr<Reward> make_reward(const std::string& spec, c10::Device device);

// The number in `text` the rule:number reward compares (first integer or decimal, optional sign;
// thousands separators not accepted), if any.
std::optional<double> first_number(const std::string& text);

}  // namespace paramkit::rlhf
