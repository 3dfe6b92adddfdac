// rlhf-train sft: supervised fine-tuning on prompt/response JSONL (loss on the responses only).
#include <cmath>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/log.h"
#include "paramkit/core/signals.h"
#include "paramkit/torch/device.h"

using namespace paramkit;

namespace {
struct SftSummary {
  int64_t examples = 0, tokens = 0, steps = 0;
  bool finished = false;
  double last_loss = 0, eval_loss = NAN;
};
void to_json(nlohmann::json& j, const SftSummary& r) {
  j = {{"examples", r.examples}, {"tokens", r.tokens}, {"steps", r.steps}, {"finished", r.finished}, {"last_loss", r.last_loss}};
  j["eval_loss"] = std::isfinite(r.eval_loss) ? nlohmann::json(r.eval_loss) : nlohmann::json(nullptr);
}

struct SftCommand : cli::TypedCommand<SftSummary> {
  SftCommand()
      : TypedCommand("sft", "Supervised fine-tuning on prompt/response JSON Lines (next-token loss on the responses)",
                     "rlhf-train sft --model tests/data/rlhf/tiny-policy --data tests/data/rlhf/add-sft.jsonl --max-steps 2 -o /tmp/rlhf-sft") {}
  void add_options(CLI::App& app) override {
    add_model_flags(app, source, "The model to fine-tune");
    app.add_option("--data", data, "JSON Lines with prompt and response fields")->required();
    app.add_option("--eval-data", eval_data, "Held-out JSON Lines: token loss reported at the end");
    add_key_flags(app, keys, "prompt-key response-key");
    app.add_flag("--packing", options.packing, "Concatenate examples into rows of --max-length tokens");
    add_supervised_flags(app, options);
    cli::add_output(app, out, "Output model folder (Hugging Face layout, with the tokenizer)");
  }
  SftSummary run(cli::Context& ctx) override {
    options.train.validate();
    const auto examples = rlhf::read_sft(data, keys);
    std::vector<rlhf::SftExample> held;
    if (!eval_data.empty()) held = rlhf::read_sft(eval_data, keys);
    rlhf::LoadedModel m = rlhf::load_model(source, lm::Head::lm, parse_device(ctx.common.device), ctx.common.seed);
    rlhf::StageResult r;
    {
      auto t = ctx.timers.scope("train");
      r = rlhf::train_sft(*m.model, *m.tokenizer, examples, options, ctx.common.seed);
    }
    SftSummary s{r.examples, r.tokens, r.steps, r.finished, r.last_loss, NAN};
    if (!held.empty()) {
      s.eval_loss = rlhf::sft_eval_loss(*m.model, *m.tokenizer, held, options.max_length, options.train.batch_size);
      log::info("eval loss {:.4f} on {} examples", s.eval_loss, held.size());
    }
    if (!r.finished) return s;  // --stop-after: the checkpoint holds the run; no model yet
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

void add_sft(cli::Tool& tool) { tool.add<SftCommand>(); }
