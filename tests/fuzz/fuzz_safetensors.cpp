// libFuzzer target: the safetensors reader must reject or accept any bytes without crashing; every
// tensor it accepts must be readable and convertible, and the tensors of an accepted file must tile
// its data section exactly (the format's rule: no hole, no overlap, nothing after the last tensor).
#include <algorithm>
#include <cstdint>
#include <vector>

#include "paramkit/core/error.h"
#include "paramkit/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    paramkit::SafetensorsFile f(data, size, "fuzz.safetensors");
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    for (const auto& t : f.tensors()) ranges.emplace_back(t.begin, t.end);
    std::sort(ranges.begin(), ranges.end());
    uint64_t covered = 0;
    for (const auto& [b, e] : ranges) {
      if (b != covered || e < b) __builtin_trap();
      covered = e;
    }
    if (8 + f.header_size() + covered != size) __builtin_trap();
    std::vector<uint8_t> buf;
    std::vector<float> f32;
    for (const auto& t : f.tensors()) {
      if (t.nbytes() > (1u << 24)) continue;
      buf.resize(t.nbytes());
      f.read(t, buf.data());
      f32.resize(t.numel());
      f.read_as(t, paramkit::DType::F32, f32.data());
    }
  } catch (const paramkit::InputError&) {
  }
  return 0;
}
