// JSON files: reading with errors naming the file, atomic writing, duplicate-key detection, metrics.
#pragma once
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace paramkit {

// Parses JSON, rejecting invalid UTF-8 and duplicate keys; InputError names `source`.
nlohmann::json parse_json(std::string_view text, const std::string& source);
nlohmann::json read_json(const std::filesystem::path& path);
void write_json(const std::filesystem::path& path, const nlohmann::json& j, int indent = 2);
// Writes a JSON report atomically with the run's provenance (core/provenance.h) under "provenance":
// how every tool stamps its JSON outputs.
void write_report(const std::filesystem::path& path, nlohmann::json report);

// A number for a report: non-finite values (NaN, inf) as null, since JSON has no such numbers.
inline nlohmann::json json_number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

// Typed field access with messages naming the file and field.
const nlohmann::json& json_field(const nlohmann::json& obj, const std::string& key, const std::string& source);

// Per-step logs as JSON Lines, one object a line, flushed as written. On resume, lines past the resumed
// step are dropped first, so a resumed job's log reads like an uninterrupted one.
class JsonlLog {
 public:
  JsonlLog() = default;
  // key: the field holding the step number; keep_through: drop records with key > keep_through (-1: start
  // a new file).
  JsonlLog(const std::filesystem::path& path, const std::string& key, int64_t keep_through);
  ~JsonlLog();
  JsonlLog(const JsonlLog&) = delete;
  JsonlLog& operator=(const JsonlLog&) = delete;
  bool active() const { return file_ != nullptr; }
  void write(const nlohmann::json& record);

 private:
  std::FILE* file_ = nullptr;
  std::string path_;
};

}  // namespace paramkit
