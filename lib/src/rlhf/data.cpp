#include "paramkit/rlhf/data.h"

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/json.h"

namespace paramkit::rlhf {

namespace {
constexpr size_t kMaxLine = 16u << 20;

// Calls f(object, "line N") for each non-blank line.
void for_each_object(const std::filesystem::path& path, const std::function<void(const nlohmann::json&, const std::string&)>& f) {
  const std::string src = path.string();
  if (std::filesystem::is_directory(path)) throw InputError(src, "", "is a folder, expected a JSON Lines file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(src, "", "cannot open");
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if ((n & 0x3FF) == 0) check_stop();
    if (line.size() > kMaxLine) throw InputError(src, "line " + std::to_string(n), "longer than 16 MiB");
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = "line " + std::to_string(n);
    nlohmann::json j = parse_json(line, src + ": " + where);
    if (!j.is_object()) throw InputError(src, where, "expected a JSON object");
    f(j, where);
  }
  if (in.bad()) throw InputError(src, "", "read error");
}

std::string text_field(const nlohmann::json& j, const std::string& key, const std::string& src, const std::string& where,
                       bool non_empty) {
  auto it = j.find(key);
  if (it == j.end()) throw InputError(src, where + ": field '" + key + "'", "missing");
  if (!it->is_string()) throw InputError(src, where + ": field '" + key + "'", "expected a string");
  std::string s = it->get<std::string>();
  if (non_empty && s.empty()) throw InputError(src, where + ": field '" + key + "'", "empty");
  return s;
}

std::optional<std::string> answer_field(const nlohmann::json& j, const std::string& key, const std::string& src, const std::string& where) {
  auto a = j.find(key);
  if (a == j.end() || a->is_null()) return std::nullopt;
  if (a->is_string()) return a->get<std::string>();
  if (a->is_number()) return a->dump();
  throw InputError(src, where + ": field '" + key + "'", "expected a string or a number");
}

template <class T>
void require_some(const std::vector<T>& v, const std::filesystem::path& path) {
  if (v.empty()) throw InputError(path.string(), "", "no examples");
}
}  // namespace

std::vector<SftExample> read_sft(const std::filesystem::path& path, const JsonlKeys& k) {
  std::vector<SftExample> out;
  const std::string src = path.string();
  for_each_object(path, [&](const nlohmann::json& j, const std::string& w) {
    out.push_back({text_field(j, k.prompt, src, w, false), text_field(j, k.response, src, w, true), answer_field(j, k.answer, src, w)});
  });
  require_some(out, path);
  return out;
}

std::vector<PreferenceExample> read_preferences(const std::filesystem::path& path, const JsonlKeys& k) {
  std::vector<PreferenceExample> out;
  const std::string src = path.string();
  for_each_object(path, [&](const nlohmann::json& j, const std::string& w) {
    out.push_back({text_field(j, k.prompt, src, w, false), text_field(j, k.chosen, src, w, true), text_field(j, k.rejected, src, w, true)});
  });
  require_some(out, path);
  return out;
}

std::vector<PromptExample> read_prompts(const std::filesystem::path& path, const JsonlKeys& k) {
  std::vector<PromptExample> out;
  const std::string src = path.string();
  for_each_object(path, [&](const nlohmann::json& j, const std::string& w) {
    out.push_back({text_field(j, k.prompt, src, w, true), answer_field(j, k.answer, src, w)});
  });
  require_some(out, path);
  return out;
}

}  // namespace paramkit::rlhf
