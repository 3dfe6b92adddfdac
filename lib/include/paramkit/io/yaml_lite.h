// A YAML subset, enough for the configs users already have (mergekit's): block mappings and sequences
// by indentation, "- key: value" items, one-line flow lists and mappings ([1, 2], {weight: 0.5},
// nested), quoted and plain scalars, comments. Anchors, multi-line strings and tags are rejected
// with the line number.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace paramkit {

nlohmann::json parse_yaml_lite(std::string_view text, const std::string& source);

}  // namespace paramkit
