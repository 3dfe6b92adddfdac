// Benchmark helper for scripts/bench/safetensors_read.sh:
//   make FILE GIB     write a synthetic safetensors file of about GIB GiB (F32 tensors of 128 MiB + small ones)
//   read FILE MODE    read every tensor, MODE: view (zero-copy mapped views, every byte summed),
//                     reuse (copied into one reused buffer, as a streaming consumer does) or
//                     fresh (copied into new LibTorch tensors); prints JSON {seconds, bytes}
//   peak FILE NAME    lazily load one tensor as a LibTorch tensor; prints JSON with peak RSS before/after
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "paramkit/io/safetensors.h"
#include "paramkit/torch/state_dict.h"

using namespace paramkit;

namespace {
long max_rss_kib() {
  rusage r;
  getrusage(RUSAGE_SELF, &r);
  return r.ru_maxrss;
}

long current_rss_kib() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  long pages = 0, resident = 0;
  if (f) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * 4;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench-safetensors make FILE GIB | read FILE | peak FILE NAME\n");
    return 2;
  }
  std::string mode = argv[1], file = argv[2];
  if (mode == "make") {
    double gib = argc > 3 ? std::atof(argv[3]) : 2.0;
    const int64_t big = 32ll << 20;  // floats: 128 MiB
    int n_big = static_cast<int>(gib * 8);
    SafetensorsWriter w(file, {{"bench", "synthetic"}});
    for (int i = 0; i < n_big; ++i) w.add("layers." + std::to_string(i) + ".weight", DType::F32, {8192, big / 8192});
    for (int i = 0; i < 64; ++i) w.add("norms." + std::to_string(i) + ".bias", DType::F32, {4096});
    std::vector<float> buf(big);
    for (int64_t i = 0; i < big; ++i) buf[i] = static_cast<float>(i % 1000) * 1e-3f;
    for (int i = 0; i < n_big; ++i) w.write("layers." + std::to_string(i) + ".weight", buf.data());
    for (int i = 0; i < 64; ++i) w.write("norms." + std::to_string(i) + ".bias", buf.data());
    w.commit();
    return 0;
  }
  if (mode == "read" && argc > 3) {
    const std::string how = argv[3];
    auto t0 = std::chrono::steady_clock::now();
    std::shared_ptr<const TensorReader> reader = open_tensors(file);
    uint64_t bytes = 0, checksum = 0;
    std::vector<uint64_t> reuse;
    for (const auto& t : reader->tensors()) {
      const uint64_t* words;
      torch::Tensor held;
      if (how == "view") {
        held = view_tensor(reader, t.name);
      } else if (how == "fresh") {
        held = read_tensor(*reader, t.name);
      } else if (how == "reuse") {
        reuse.resize((t.nbytes() + 7) / 8);
        reader->read(t, reuse.data());
      } else {
        std::fprintf(stderr, "bench-safetensors: read mode must be view, reuse or fresh\n");
        return 2;
      }
      words = held.defined() ? static_cast<const uint64_t*>(held.data_ptr()) : reuse.data();
      if (how == "view") {
        const uint64_t n = t.nbytes() / 8;
        for (uint64_t i = 0; i < n; ++i) checksum += words[i];  // touch every byte
      } else {
        checksum += words[t.nbytes() / 16];
      }
      bytes += t.nbytes();
    }
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%s\n", nlohmann::json({{"mode", how}, {"seconds", s}, {"bytes", bytes}, {"checksum", checksum}}).dump().c_str());
    return 0;
  }
  if (mode == "peak" && argc > 3) {
    long before_peak = max_rss_kib(), before_now = current_rss_kib();
    auto reader = open_tensors(file);
    torch::Tensor t = read_tensor(*reader, argv[3]);
    double sum = t.sum().item<double>();
    long after_peak = max_rss_kib();
    std::printf("%s\n", nlohmann::json({{"tensor_bytes", t.numel() * t.element_size()},
                                        {"file_bytes", reader->files().empty() ? 0 : std::filesystem::file_size(reader->files()[0])},
                                        {"rss_before_kib", before_now}, {"peak_before_kib", before_peak},
                                        {"peak_after_kib", after_peak}, {"peak_growth_bytes", (after_peak - before_now) * 1024},
                                        {"sum", sum}})
                            .dump()
                            .c_str());
    return 0;
  }
  std::fprintf(stderr, "bench-safetensors: unknown mode '%s'\n", mode.c_str());
  return 2;
}
