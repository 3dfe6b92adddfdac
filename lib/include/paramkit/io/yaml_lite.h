// A YAML subset, enough for the configs users already have (mergekit's): block mappings and sequences
// by indentation, "- key: value" items, flow lists of scalars, quoted and plain scalars, comments.
// Anchors, multi-line strings, flow mappings and tags are rejected with the line number.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace paramkit {

nlohmann::json parse_yaml_lite(std::string_view text, const std::string& source);

}  // namespace paramkit
