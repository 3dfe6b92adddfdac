// Benchmark helper for scripts/bench/mmsb.sh: the exact W2 (ot::w2, LEMON's network simplex) between two
// point sets read as raw little-endian float64 [n, d] files.
//   bench-ot X.bin Y.bin N M D   prints JSON {"w2", "seconds"}
#include <fmt/format.h>

#include <chrono>
#include <fstream>
#include <vector>

#include "paramkit/ot/emd.h"

int main(int argc, char** argv) {
  if (argc < 6) {
    fmt::print(stderr, "usage: bench-ot X.bin Y.bin N M D\n");
    return 2;
  }
  const int64_t n = std::atoll(argv[3]), m = std::atoll(argv[4]), d = std::atoll(argv[5]);
  auto read = [](const char* path, int64_t rows, int64_t d) {
    std::vector<double> v(static_cast<size_t>(rows * d));
    std::ifstream f(path, std::ios::binary);
    f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(double)));
    if (!f) throw std::runtime_error(std::string("cannot read ") + path);
    return v;
  };
  const auto x = read(argv[1], n, d), y = read(argv[2], m, d);
  const auto t0 = std::chrono::steady_clock::now();
  const double w = paramkit::ot::w2(x.data(), n, y.data(), m, d);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print("{{\"w2\": {:.12g}, \"seconds\": {:.3f}}}\n", w, s);
  return 0;
}
