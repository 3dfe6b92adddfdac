// LibTorch set-up from the common flags, for tools that use LibTorch: thread count, the global seed and
// the --device check (an error, never a silent fallback, when CUDA is not there).
//   tool.set_runtime([](const cli::CommonOptions& c) { start_torch(c.seed, c.threads, c.device); });
#pragma once
#include <cstdint>
#include <string>

namespace paramkit {

void start_torch(uint64_t seed, int threads, const std::string& device);

}  // namespace paramkit
