// libFuzzer target: IDX parsing (and gunzip) of arbitrary bytes.
#include <cstdint>
#include <string>

#include "paramkit/core/error.h"
#include "paramkit/io/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
      std::string raw = paramkit::gunzip(data, size, "fuzz.idx.gz", 1u << 26);
      paramkit::parse_idx(reinterpret_cast<const uint8_t*>(raw.data()), raw.size(), "fuzz.idx");
    } else {
      paramkit::IdxArray a = paramkit::parse_idx(data, size, "fuzz.idx");
      if (a.data.size() != a.numel() * paramkit::dtype_size(a.dtype)) __builtin_trap();
    }
  } catch (const paramkit::InputError&) {
  }
  return 0;
}
