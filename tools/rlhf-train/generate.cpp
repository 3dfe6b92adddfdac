// rlhf-train generate: responses of a policy to JSONL prompts (greedy or sampled), as JSON Lines.
#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/rlhf/rl.h"
#include "paramkit/torch/device.h"

using namespace paramkit;

namespace {
struct GenerateSummary {
  int64_t prompts = 0;
  double mean_chars = 0;
};
void to_json(nlohmann::json& j, const GenerateSummary& r) { j = {{"prompts", r.prompts}, {"mean_response_chars", r.mean_chars}}; }

struct GenerateCommand : cli::TypedCommand<GenerateSummary> {
  GenerateCommand()
      : TypedCommand("generate", "Responses of a model to JSON Lines prompts, written as JSON Lines {prompt, response}",
                     "rlhf-train generate --model tests/data/rlhf/tiny-policy --prompts tests/data/rlhf/add-prompts.jsonl --greedy "
                     "--max-new-tokens 4 -o /tmp/rlhf-gen.jsonl") {
    gen.max_new_tokens = 64;
  }
  void add_options(CLI::App& app) override {
    add_model_flags(app, source, "The model");
    app.add_option("--prompts", prompts_path, "JSON Lines of prompts")->required();
    add_key_flags(app, keys, "prompt-key");
    app.add_flag("--greedy", gen.greedy, "Greedy decoding (default: sampling)");
    app.add_option("--max-new-tokens", gen.max_new_tokens, "Tokens generated per response")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
    app.add_option("--max-prompt-tokens", max_prompt_tokens, "Longer prompts keep their last tokens")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
    app.add_option("--temperature", gen.temperature, "Sampling temperature")->capture_default_str()->check(CLI::Range(1e-3, 100.0));
    app.add_option("--top-k", gen.top_k, "Sample among the k most likely tokens (0: all)")->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{1} << 24));
    app.add_option("--top-p", gen.top_p, "Nucleus sampling mass (1: off)")->capture_default_str()->check(CLI::Range(1e-6, 1.0));
    app.add_option("--batch-size", batch, "Prompts per generation batch")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{65536}));
    cli::add_output(app, out, "Output JSON Lines");
  }
  GenerateSummary run(cli::Context& ctx) override {
    gen.validate();
    gen.seed = ctx.common.seed;
    gen.logprobs = false;
    const auto prompts = rlhf::read_prompts(prompts_path, keys);
    rlhf::LoadedModel m = rlhf::load_model(source, lm::Head::lm, parse_device(ctx.common.device), ctx.common.seed);
    std::vector<std::string> texts;
    for (const auto& p : prompts) texts.push_back(p.prompt);
    std::vector<std::string> responses;
    {
      auto t = ctx.timers.scope("generate");
      responses = rlhf::generate_texts(*m.model, *m.tokenizer, texts, gen, batch, max_prompt_tokens);
    }
    std::string lines;
    double chars = 0;
    for (size_t i = 0; i < texts.size(); ++i) {
      lines += nlohmann::json({{"prompt", texts[i]}, {"response", responses[i]}}).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
      chars += static_cast<double>(responses[i].size());
    }
    check_stop();
    write_file_atomic(out, lines);
    return {static_cast<int64_t>(texts.size()), chars / static_cast<double>(texts.size())};
  }
  rlhf::ModelSource source;
  rlhf::JsonlKeys keys;
  lm::GenerateOptions gen;
  int64_t max_prompt_tokens = 1024, batch = 16;
  std::string prompts_path, out;
};
}  // namespace

void add_generate(cli::Tool& tool) { tool.add<GenerateCommand>(); }
