// libFuzzer target: CSV parsing of arbitrary text; whatever parses must survive format -> parse with
// the same shape.
#include <cstdint>
#include <string_view>

#include "paramkit/core/error.h"
#include "paramkit/io/csv.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  paramkit::Table t;
  try {
    t = paramkit::parse_csv(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.csv");
  } catch (const paramkit::InputError&) {
    return 0;
  }
  for (const auto& c : t.columns) {
    if (c.size() != t.rows) __builtin_trap();
    (void)c.levels();
  }
  try {
    paramkit::Table u = paramkit::parse_csv(paramkit::format_csv(t), "again.csv");
    if (u.rows != t.rows || u.columns.size() != t.columns.size()) __builtin_trap();
  } catch (const paramkit::InputError&) {
    __builtin_trap();  // our own output must parse
  }
  return 0;
}
