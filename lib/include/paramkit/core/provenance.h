// Provenance stamped into every output: tool, version, git commit, effective config, seed, time.
#pragma once
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace paramkit {

const char* version();
const char* git_commit();

struct Provenance {
  std::string tool;
  std::string version;
  std::string git_commit;
  nlohmann::json config = nlohmann::json::object();
  uint64_t seed = 0;
  std::string time;  // UTC ISO 8601; SOURCE_DATE_EPOCH when set, for byte-identical reruns

  nlohmann::json to_json() const;
  static Provenance from_json(const nlohmann::json& j);
};

// UTC time as ISO 8601, honouring SOURCE_DATE_EPOCH (reproducible-builds convention).
std::string utc_timestamp();

// The process-wide provenance set by the tool runner (empty tool name before that).
Provenance& current_provenance();

// safetensors __metadata__ entries carrying the provenance: {"provenance": "<json>"}.
std::map<std::string, std::string> provenance_metadata();

}  // namespace paramkit
