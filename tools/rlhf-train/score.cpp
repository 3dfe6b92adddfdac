// rlhf-train score: scores of prompt/response JSON Lines under a reward (model, rule or command).
#include <cmath>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/rlhf/reward.h"
#include "paramkit/torch/device.h"

using namespace paramkit;

namespace {
struct ScoreSummary {
  int64_t rows = 0;
  double mean = 0, std = 0;
};
void to_json(nlohmann::json& j, const ScoreSummary& r) { j = {{"rows", r.rows}, {"mean", r.mean}, {"std", r.std}}; }

struct ScoreCommand : cli::TypedCommand<ScoreSummary> {
  ScoreCommand()
      : TypedCommand("score", "Score prompt/response JSON Lines with a reward model, a rule or an external command",
                     "rlhf-train score --reward model:tests/data/rlhf/tiny-rm --data tests/data/rlhf/add-sft.jsonl -o /tmp/rlhf-scores.jsonl") {}
  void add_options(CLI::App& app) override {
    app.add_option("--reward", reward_spec, "model:DIR[@TOKENIZER], rule:exact, rule:number, rule:regex:PATTERN or cmd:COMMAND")->required();
    app.add_option("--data", data, "JSON Lines with prompt and response (and answer for rules)")->required();
    add_key_flags(app, keys, "prompt-key response-key answer-key");
    cli::add_output(app, out, "Output JSON Lines: the input rows with a score field");
  }
  ScoreSummary run(cli::Context& ctx) override {
    const auto rows = rlhf::read_sft(data, keys);
    auto reward = rlhf::make_reward(reward_spec, parse_device(ctx.common.device));
    std::vector<rlhf::RewardQuery> q;
    for (size_t i = 0; i < rows.size(); ++i) {
      if (reward->needs_answers() && !rows[i].answer)
        throw InputError(data, "row " + std::to_string(i + 1) + ": field '" + keys.answer + "'", "missing (the rule compares with it)");
      q.push_back({&rows[i].prompt, &rows[i].response, &rows[i].answer});
    }
    std::vector<double> s;
    {
      auto t = ctx.timers.scope("score");
      s = reward->score(q);
    }
    std::string lines;
    double sum = 0, sq = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
      nlohmann::json j = {{"prompt", rows[i].prompt}, {"response", rows[i].response}, {"score", s[i]}};
      lines += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
      sum += s[i];
      sq += s[i] * s[i];
    }
    check_stop();
    write_file_atomic(out, lines);
    const double n = static_cast<double>(rows.size()), mean = sum / n;
    return {static_cast<int64_t>(rows.size()), mean, n > 1 ? std::sqrt(std::max(0.0, (sq - n * mean * mean) / (n - 1))) : 0.0};
  }
  std::string reward_spec, data, out;
  rlhf::JsonlKeys keys;
};
}  // namespace

void add_score(cli::Tool& tool) { tool.add<ScoreCommand>(); }
