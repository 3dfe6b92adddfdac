// --device parsing with an error, never a silent fallback, when CUDA is not there.
#include "paramkit/torch/device.h"

#include <torch/cuda.h>

#include "paramkit/core/error.h"

namespace paramkit {

c10::Device parse_device(const std::string& spec) {
  if (spec == "cpu") return c10::Device(c10::kCPU);
  if (spec == "cuda" || spec.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (spec.size() > 5) {
      try {
        size_t used = 0;
        index = std::stoi(spec.substr(5), &used);
        if (used != spec.size() - 5 || index < 0) throw std::invalid_argument("");
      } catch (const std::exception&) {
        throw UsageError("--device: expected cpu, cuda or cuda:N, got '" + spec + "'");
      }
    }
    if (!torch::cuda::is_available())
      throw UsageError("--device " + spec + ": no CUDA device is available (this build or machine has none); use --device cpu");
    if (index >= static_cast<int>(torch::cuda::device_count()))
      throw UsageError("--device " + spec + ": only " + std::to_string(torch::cuda::device_count()) + " CUDA device(s)");
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw UsageError("--device: expected cpu, cuda or cuda:N, got '" + spec + "'");
}

}  // namespace paramkit
