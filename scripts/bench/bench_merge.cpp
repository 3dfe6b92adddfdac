// Benchmark helper for scripts/bench/merge.sh:
//   make DIR PARAMS MODELS   a synthetic base (HF folder, F32 shards of 1GB) of about PARAMS parameters and
//                            MODELS fine-tunes (base + small seeded noise), in DIR/base, DIR/ft1, ...
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "paramkit/core/rng.h"
#include "paramkit/io/tensor_store.h"

using namespace paramkit;

int main(int argc, char** argv) {
  if (argc < 5 || std::string(argv[1]) != "make") {
    std::fprintf(stderr, "usage: bench-merge make DIR PARAMS MODELS\n");
    return 2;
  }
  const std::string dir = argv[2];
  const double params = std::atof(argv[3]);
  const int models = std::atoi(argv[4]);
  // A transformer-like layout: layers of [d, 4d] and [4d, d] matrices plus norms, d = 1024.
  const int64_t d = 1024;
  std::vector<TensorRecord> records;
  int64_t total = 0;
  for (int layer = 0; total < params; ++layer) {
    std::string p = "model.layers." + std::to_string(layer) + ".";
    records.push_back({p + "mlp.up.weight", DType::F32, {4 * d, d}});
    records.push_back({p + "mlp.down.weight", DType::F32, {d, 4 * d}});
    records.push_back({p + "norm.weight", DType::F32, {d}});
    total += 8 * d * d + d;
  }
  for (int m = 0; m <= models; ++m) {
    const std::string out = dir + (m == 0 ? "/base" : "/ft" + std::to_string(m));
    FillFn fill = [&](const TensorRecord& r, void* dst) {
      float* f = static_cast<float*>(dst);
      uint64_t h = 1469598103934665603ull;
      for (char c : r.name) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
      Rng base(h), noise(h, static_cast<uint64_t>(m));
      const int64_t n = static_cast<int64_t>(shape_numel(r.shape));
      for (int64_t i = 0; i < n; ++i) {
        float b = static_cast<float>(base.uniform() - 0.5) * 0.1f;
        f[i] = m == 0 ? b : b + static_cast<float>(noise.uniform() - 0.5) * 0.002f;
      }
    };
    write_sharded(out, records, fill, {}, 1000000000ull);
  }
  std::printf("{\"parameters\": %lld, \"tensors\": %zu}\n", static_cast<long long>(total), records.size());
  return 0;
}
