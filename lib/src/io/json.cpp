// JSON reading with duplicate-key and UTF-8 checks, atomic writing.
#include "paramkit/io/json.h"

#include <set>
#include <vector>

#include "paramkit/core/error.h"
#include "paramkit/core/provenance.h"
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

namespace paramkit {

JsonlLog::JsonlLog(const std::filesystem::path& path, const std::string& key, int64_t keep_through) : path_(path.string()) {
  std::string kept;
  if (keep_through >= 0 && std::filesystem::exists(path)) {
    std::string text = read_file(path);
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string::npos) break;  // a torn last line (killed mid-write) is dropped
      std::string line = text.substr(start, end - start);
      start = end + 1;
      try {
        nlohmann::json j = nlohmann::json::parse(line);
        if (j.contains(key) && j[key].is_number_integer() && j[key].get<int64_t>() <= keep_through) kept += line + "\n";
      } catch (const nlohmann::json::exception&) {
      }
    }
  }
  write_file_atomic(path, kept);
  file_ = std::fopen(path_.c_str(), "a");
  if (!file_) throw Error(path_ + ": cannot open log for appending");
}

JsonlLog::~JsonlLog() {
  if (file_) std::fclose(file_);
}

void JsonlLog::write(const nlohmann::json& record) {
  if (!file_) return;
  std::string line = record.dump() + "\n";
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0)
    throw Error(path_ + ": write failed");
}

void write_report(const std::filesystem::path& path, nlohmann::json report) {
  report["provenance"] = current_provenance().to_json();
  write_json(path, report);
}

}  // namespace paramkit
