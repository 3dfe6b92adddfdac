// Shared test helpers: a scratch folder per test and small file utilities.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace paramkit::test {

inline std::filesystem::path scratch(const std::string& name) {
  auto p = std::filesystem::temp_directory_path() / ("paramkit-test-" + std::to_string(::getpid())) / name;
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p;
}

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void spit(const std::filesystem::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary);
  out << s;
}

inline std::string data_file(const std::string& name) { return std::string(PARAMKIT_TEST_DATA) + "/" + name; }

}  // namespace paramkit::test
