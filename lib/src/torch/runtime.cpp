#include "paramkit/torch/runtime.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "paramkit/torch/device.h"

namespace paramkit {

void start_torch(uint64_t seed, int threads, const std::string& device) {
  if (threads > 0) {
    at::set_num_threads(threads);
    at::set_num_interop_threads(1);
  }
  parse_device(device);
  torch::manual_seed(seed);
}

}  // namespace paramkit
