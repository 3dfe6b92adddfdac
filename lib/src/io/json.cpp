// JSON reading with duplicate-key and UTF-8 checks, atomic writing.
#include "paramkit/io/json.h"

#include <set>
#include <vector>

#include "paramkit/core/error.h"
#include "paramkit/io/atomic_file.h"

namespace paramkit {

nlohmann::json parse_json(std::string_view text, const std::string& source) {
  using json = nlohmann::json;
  // One set of keys per open object, to reject duplicates (nlohmann keeps the last silently).
  std::vector<std::set<std::string>> keys;
  std::string duplicate;
  json::parser_callback_t cb = [&](int, json::parse_event_t ev, json& parsed) {
    if (ev == json::parse_event_t::object_start) keys.emplace_back();
    else if (ev == json::parse_event_t::object_end) keys.pop_back();
    else if (ev == json::parse_event_t::key && !keys.empty()) {
      const std::string k = parsed.get<std::string>();
      if (!keys.back().insert(k).second && duplicate.empty()) duplicate = k;
    }
    return true;
  };
  // nlohmann's parser stops at a NUL byte and would accept whatever follows it.
  size_t nul = text.find('\0');
  if (nul != std::string_view::npos)
    throw InputError(source, "", "invalid JSON: NUL byte at offset " + std::to_string(nul));
  json j;
  try {
    j = json::parse(text.begin(), text.end(), cb);
  } catch (const json::exception& e) {
    throw InputError(source, "", std::string("invalid JSON: ") + e.what());
  }
  if (!duplicate.empty()) throw InputError(source, duplicate, "duplicate key");
  return j;
}

nlohmann::json read_json(const std::filesystem::path& path) { return parse_json(read_file(path), path.string()); }

void write_json(const std::filesystem::path& path, const nlohmann::json& j, int indent) {
  write_file_atomic(path, j.dump(indent) + "\n");
}

const nlohmann::json& json_field(const nlohmann::json& obj, const std::string& key, const std::string& source) {
  if (!obj.is_object()) throw InputError(source, "", "expected a JSON object");
  auto it = obj.find(key);
  if (it == obj.end()) throw InputError(source, key, "missing");
  return *it;
}

}  // namespace paramkit
