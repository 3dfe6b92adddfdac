// libFuzzer target: the YAML subset reader (mergekit configs) on arbitrary text. Malformed or
// unsupported YAML must be an InputError; whatever parses must be a JSON value that can be walked and
// serialised, and survive JSON unchanged.
#include <cstdint>
#include <string>
#include <string_view>

#include "paramkit/core/error.h"
#include "paramkit/io/yaml_lite.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nlohmann::json j;
  try {
    j = paramkit::parse_yaml_lite(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.yaml");
  } catch (const paramkit::InputError&) {
    return 0;
  }
  // A document is a mapping or a list (an empty document is an empty mapping), never a bare scalar.
  if (!j.is_object() && !j.is_array()) __builtin_trap();
  // Strings hold the input's bytes as they are (not necessarily UTF-8): serialise with replacement.
  const std::string s = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (s.empty()) __builtin_trap();
  // Where the strings are UTF-8, the value survives JSON as it is (no NaN or infinity sneaks in as a
  // number).
  std::string strict;
  try {
    strict = j.dump();
  } catch (const nlohmann::json::type_error&) {
    return 0;  // invalid UTF-8 in a string
  }
  if (nlohmann::json::parse(strict) != j) __builtin_trap();
  return 0;
}
