// Provenance record and its serialisations.
#include "paramkit/core/provenance.h"

#include <cstdlib>
#include <ctime>

namespace paramkit {

const char* version() { return PARAMKIT_VERSION; }

nlohmann::json Provenance::to_json() const {
  return {{"tool", tool}, {"version", version}, {"git_commit", git_commit},
          {"config", config}, {"seed", seed}, {"time", time}};
}

Provenance Provenance::from_json(const nlohmann::json& j) {
  Provenance p;
  p.tool = j.value("tool", "");
  p.version = j.value("version", "");
  p.git_commit = j.value("git_commit", "");
  if (j.contains("config")) p.config = j["config"];
  p.seed = j.value("seed", uint64_t{0});
  p.time = j.value("time", "");
  return p;
}

std::string utc_timestamp() {
  std::time_t t = std::time(nullptr);
  if (const char* sde = std::getenv("SOURCE_DATE_EPOCH")) {
    char* end = nullptr;
    long long v = std::strtoll(sde, &end, 10);
    if (end && *end == '\0') t = static_cast<std::time_t>(v);
  }
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Provenance& current_provenance() {
  static Provenance p = [] {
    Provenance q;
    q.version = version();
    q.git_commit = git_commit();
    q.time = utc_timestamp();
    return q;
  }();
  return p;
}

std::map<std::string, std::string> provenance_metadata() {
  return {{"provenance", current_provenance().to_json().dump()}};
}

}  // namespace paramkit
