// JSON files: reading with errors naming the file, atomic writing, duplicate-key detection, metrics.
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace paramkit {

// Parses JSON, rejecting invalid UTF-8 and duplicate keys; InputError names `source`.
nlohmann::json parse_json(std::string_view text, const std::string& source);
nlohmann::json read_json(const std::filesystem::path& path);
void write_json(const std::filesystem::path& path, const nlohmann::json& j, int indent = 2);

// Typed field access with messages naming the file and field.
const nlohmann::json& json_field(const nlohmann::json& obj, const std::string& key, const std::string& source);

}  // namespace paramkit
