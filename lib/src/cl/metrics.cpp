// Accuracy-matrix metrics.
#include "paramkit/cl/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "paramkit/core/error.h"

namespace paramkit::cl {

void validate(const AccuracyMatrix& a) {
  if (a.empty()) throw UsageError("accuracy matrix: no tasks");
  for (size_t t = 0; t < a.size(); ++t) {
    if (a[t].size() != t + 1) throw UsageError(fmt::format("accuracy matrix: row {} has {} entries, expected {}", t, a[t].size(), t + 1));
    for (double v : a[t])
      if (!std::isfinite(v) || v < 0 || v > 1) throw UsageError(fmt::format("accuracy matrix: row {} has {} (expected [0, 1])", t, v));
  }
}

double final_accuracy(const AccuracyMatrix& a) {
  validate(a);
  double s = 0;
  for (double v : a.back()) s += v;
  return s / static_cast<double>(a.back().size());
}

double average_incremental_accuracy(const AccuracyMatrix& a) {
  validate(a);
  double s = 0;
  for (const auto& row : a) {
    double r = 0;
    for (double v : row) r += v;
    s += r / static_cast<double>(row.size());
  }
  return s / static_cast<double>(a.size());
}

double forgetting(const AccuracyMatrix& a) {
  validate(a);
  const size_t T = a.size() - 1;
  if (T == 0) return 0;
  double s = 0;
  for (size_t j = 0; j < T; ++j) {
    double best = 0;
    for (size_t t = j; t < T; ++t) best = std::max(best, a[t][j]);
    s += best - a[T][j];
  }
  return s / static_cast<double>(T);
}

double backward_transfer(const AccuracyMatrix& a) {
  validate(a);
  const size_t T = a.size() - 1;
  if (T == 0) return 0;
  double s = 0;
  for (size_t j = 0; j < T; ++j) s += a[T][j] - a[j][j];
  return s / static_cast<double>(T);
}

nlohmann::json metrics_json(const AccuracyMatrix& a) {
  return {{"final", final_accuracy(a)}, {"average_incremental", average_incremental_accuracy(a)}, {"forgetting", forgetting(a)}, {"bwt", backward_transfer(a)}};
}

}  // namespace paramkit::cl
