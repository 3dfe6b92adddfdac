// The JSON Lines files of RLHF: SFT pairs, preference pairs and prompts (with an optional reference
// answer for verifiable rewards). One object per line; blank lines are skipped. Errors name the file,
// the line and the field (exit 2).
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace paramkit::rlhf {

struct SftExample {
  std::string prompt, response;
  std::optional<std::string> answer;  // when the line has one (for scoring with a rule)
};
struct PreferenceExample {
  std::string prompt, chosen, rejected;
};
struct PromptExample {
  std::string prompt;
  std::optional<std::string> answer;  // for rule rewards and the external scorer
};

// Field names: --prompt-key/--response-key style overrides.
struct JsonlKeys {
  std::string prompt = "prompt", response = "response", chosen = "chosen", rejected = "rejected", answer = "answer";
};

// Each reader: InputError "<file>: line N: field 'x': ..." for a line that is not a JSON object, a
// missing or non-string field, an empty response/chosen/rejected; and for a file without examples.
// Lines over 16 MiB are refused. Numbers as answers are accepted and kept as written.
std::vector<SftExample> read_sft(const std::filesystem::path& path, const JsonlKeys& keys = {});
std::vector<PreferenceExample> read_preferences(const std::filesystem::path& path, const JsonlKeys& keys = {});
std::vector<PromptExample> read_prompts(const std::filesystem::path& path, const JsonlKeys& keys = {});

}  // namespace paramkit::rlhf
