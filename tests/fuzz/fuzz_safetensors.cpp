// libFuzzer target: the safetensors reader must reject or accept any bytes without crashing, and
// every tensor it accepts must be readable and convertible.
#include <cstdint>
#include <vector>

#include "paramkit/core/error.h"
#include "paramkit/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    paramkit::SafetensorsFile f(data, size, "fuzz.safetensors");
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
