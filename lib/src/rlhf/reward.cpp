#include "paramkit/rlhf/reward.h"

#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <regex>

#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"
#include "paramkit/core/subprocess.h"
#include "paramkit/rlhf/stages.h"

namespace paramkit::rlhf {

namespace {
std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  const size_t b = s.find_last_not_of(" \t\r\n");
  return s.substr(a, b - a + 1);
}

class RuleReward : public Reward {
 public:
  explicit RuleReward(std::string rule) : rule_(std::move(rule)) {
    if (rule_.rfind("regex:", 0) == 0) {
      try {
        re_ = std::regex(rule_.substr(6), std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        throw UsageError("--reward rule:" + rule_ + ": not a valid regular expression (" + e.what() + ")");
      }
    } else if (rule_ != "exact" && rule_ != "number") {
      throw UsageError("--reward: unknown rule '" + rule_ + "' (rule:exact, rule:number or rule:regex:PATTERN)");
    }
  }
  std::vector<double> score(const std::vector<RewardQuery>& qs) override {
    std::vector<double> out;
    out.reserve(qs.size());
    for (const auto& q : qs) {
      if (rule_ == "exact") {
        out.push_back(*q.answer && trim(*q.response) == trim(**q.answer) ? 1.0 : 0.0);
      } else if (rule_ == "number") {
        const auto got = first_number(*q.response);
        const auto want = *q.answer ? first_number(**q.answer) : std::nullopt;
        out.push_back(got && want && *got == *want ? 1.0 : 0.0);
      } else {
        out.push_back(std::regex_search(*q.response, re_) ? 1.0 : 0.0);
      }
    }
    return out;
  }
  std::string describe() const override { return "rule:" + rule_; }
  bool needs_answers() const override { return rule_ == "exact" || rule_ == "number"; }

 private:
  std::string rule_;
  std::regex re_;
};

class CommandReward : public Reward {
 public:
  explicit CommandReward(std::string command) : command_(std::move(command)) {
    if (command_.empty()) throw UsageError("--reward cmd: give a command, e.g. cmd:'python3 score.py'");
  }
  std::vector<double> score(const std::vector<RewardQuery>& qs) override {
    std::string input;
    for (const auto& q : qs) {
      nlohmann::json j = {{"prompt", *q.prompt}, {"response", *q.response}};
      j["answer"] = *q.answer ? nlohmann::json(**q.answer) : nlohmann::json(nullptr);
      input += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    }
    CommandOptions o;
    o.input = std::move(input);
    o.what = "--reward cmd";
    o.max_output = 64u << 20;
    const std::string out = run_command(command_, o);
    std::vector<double> scores;
    size_t pos = 0, line = 0;
    while (pos < out.size()) {
      size_t e = out.find('\n', pos);
      if (e == std::string::npos) e = out.size();
      const std::string s = trim(out.substr(pos, e - pos));
      pos = e + 1;
      ++line;
      if (s.empty()) continue;
      char* end = nullptr;
      const double v = std::strtod(s.c_str(), &end);
      if (end == s.c_str() || *end != '\0' || !std::isfinite(v))
        throw Error("--reward cmd: line " + std::to_string(line) + " of the scorer's output is not a finite number: '" + s.substr(0, 80) +
                    "' (" + command_ + ")");
      scores.push_back(v);
    }
    if (scores.size() != qs.size())
      throw Error("--reward cmd: the scorer wrote " + std::to_string(scores.size()) + " scores for " + std::to_string(qs.size()) +
                  " responses (" + command_ + ")");
    return scores;
  }
  std::string describe() const override { return "cmd:" + command_; }

 private:
  std::string command_;
};

class ModelReward : public Reward {
 public:
  ModelReward(lm::CausalLM model, std::shared_ptr<const text::Tokenizer> tok, int64_t batch, int64_t max_length)
      : model_(std::move(model)), tok_(std::move(tok)), batch_(batch), max_length_(max_length) {
    if (model_->head() != lm::Head::score) throw UsageError("--reward model: the model has no score head (train one with rlhf-train rm)");
    model_->eval();
  }
  std::vector<double> score(const std::vector<RewardQuery>& qs) override {
    std::vector<std::string> prompts, responses;
    for (const auto& q : qs) {
      prompts.push_back(*q.prompt);
      responses.push_back(*q.response);
    }
    return score_texts(*model_, *tok_, prompts, responses, batch_, max_length_);
  }
  std::string describe() const override { return "reward model"; }

 private:
  lm::CausalLM model_;
  std::shared_ptr<const text::Tokenizer> tok_;
  int64_t batch_, max_length_;
};
}  // namespace

std::optional<double> first_number(const std::string& text) {
  static const std::regex number(R"([-+]?(?:\d+\.?\d*|\.\d+))");
  std::smatch m;
  if (!std::regex_search(text, m, number)) return std::nullopt;
  const double v = std::strtod(m.str().c_str(), nullptr);
  return std::isfinite(v) ? std::optional<double>(v) : std::nullopt;
}

std::unique_ptr<Reward> make_rule_reward(const std::string& rule) { return std::make_unique<RuleReward>(rule); }
std::unique_ptr<Reward> make_command_reward(const std::string& command) { return std::make_unique<CommandReward>(command); }
std::unique_ptr<Reward> make_model_reward(lm::CausalLM model, std::shared_ptr<const text::Tokenizer> tokenizer, int64_t batch_size,
                                          int64_t max_length) {
  return std::make_unique<ModelReward>(std::move(model), std::move(tokenizer), batch_size, max_length);
}

std::unique_ptr<Reward> make_reward(const std::string& spec, c10::Device device) {
  if (spec.rfind("rule:", 0) == 0) return make_rule_reward(spec.substr(5));
  if (spec.rfind("cmd:", 0) == 0) return make_command_reward(spec.substr(4));
  if (spec.rfind("model:", 0) == 0) {
    std::string dir = spec.substr(6), tok = dir;
    const size_t at = dir.rfind('@');
    if (at != std::string::npos) {
      tok = dir.substr(at + 1);
      dir = dir.substr(0, at);
    }
    lm::LoadOptions lo;
    lo.head = lm::Head::score;
    lo.device = device;
    lm::CausalLM m = lm::load_causal_lm(dir, lo);
    std::shared_ptr<const text::Tokenizer> t = at == std::string::npos ? folder_tokenizer(dir) : text::load_tokenizer(tok);
    return make_model_reward(m, t, 16, m->config().max_positions);
  }
  throw UsageError("--reward: expected model:DIR, rule:exact, rule:number, rule:regex:PATTERN or cmd:COMMAND, got '" + spec.substr(0, 80) + "'");
}

}  // namespace paramkit::rlhf
