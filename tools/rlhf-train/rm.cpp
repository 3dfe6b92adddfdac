// rlhf-train rm: a reward model from preference pairs (-log sigmoid(r_chosen - r_rejected)).
#include <cmath>

#include "commands.h"
#include "paramkit/io/json.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/log.h"
#include "paramkit/core/signals.h"
#include "paramkit/torch/device.h"

using namespace paramkit;

namespace {
struct RmSummary {
  int64_t pairs = 0, steps = 0;
  bool finished = false;
  double last_loss = 0, train_accuracy = NAN, eval_accuracy = NAN;
};
void to_json(nlohmann::json& j, const RmSummary& r) {
  j = {{"pairs", r.pairs}, {"steps", r.steps}, {"finished", r.finished}, {"last_loss", r.last_loss},
       {"train_accuracy", json_number(r.train_accuracy)}, {"eval_accuracy", json_number(r.eval_accuracy)}};
}

struct RmCommand : cli::TypedCommand<RmSummary> {
  RmCommand()
      : TypedCommand("rm", "Train a reward model (score head) on preference pairs; reports pairwise accuracy",
                     "rlhf-train rm --model tests/data/rlhf/tiny-policy --data tests/data/rlhf/add-pref.jsonl --max-steps 2 -o /tmp/rlhf-rm") {}
  void add_options(CLI::App& app) override {
    add_model_flags(app, source, "The model to start from (an LM gets a new score head)");
    app.add_option("--data", data, "JSON Lines with prompt, chosen and rejected fields")->required();
    app.add_option("--eval-data", eval_data, "Held-out preference pairs: accuracy reported at the end");
    add_key_flags(app, keys, "prompt-key chosen-key rejected-key");
    add_supervised_flags(app, options);
    cli::add_output(app, out, "Output reward-model folder (Hugging Face layout, score.weight, with the tokenizer)");
  }
  RmSummary run(cli::Context& ctx) override {
    options.train.validate();
    const auto pairs = rlhf::read_preferences(data, keys);
    std::vector<rlhf::PreferenceExample> held;
    if (!eval_data.empty()) held = rlhf::read_preferences(eval_data, keys);
    rlhf::LoadedModel m = rlhf::load_model(source, lm::Head::score, parse_device(ctx.common.device), ctx.common.seed);
    rlhf::StageResult r;
    {
      auto t = ctx.timers.scope("train");
      r = rlhf::train_rm(*m.model, *m.tokenizer, pairs, options, ctx.common.seed);
    }
    RmSummary s{static_cast<int64_t>(pairs.size()), r.steps, r.finished, r.last_loss, r.accuracy, NAN};
    if (!held.empty()) {
      s.eval_accuracy = rlhf::preference_accuracy(*m.model, *m.tokenizer, held, options.max_length, 32);
      log::info("eval accuracy {:.4f} on {} pairs", s.eval_accuracy, held.size());
    }
    if (!r.finished) return s;
    check_stop();
    rlhf::save_model(*m.model, m, out);
    return s;
  }
  rlhf::ModelSource source;
  rlhf::JsonlKeys keys;
  rlhf::SftOptions options;
  std::string data, eval_data, out;
};
}  // namespace

void add_rm(cli::Tool& tool) { tool.add<RmCommand>(); }
