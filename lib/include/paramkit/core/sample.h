// A sample of numbers (accuracies over seeds, times over repetitions): mean and sample standard
// deviation, as the tools' summaries report them.
#pragma once
#include <cmath>
#include <vector>

namespace paramkit {

struct Sample {
  std::vector<double> values;
  void add(double v) { values.push_back(v); }
  size_t size() const { return values.size(); }
  // NaN for an empty sample.
  double mean() const {
    if (values.empty()) return NAN;
    double s = 0;
    for (double v : values) s += v;
    return s / static_cast<double>(values.size());
  }
  // The sample (n - 1) standard deviation; 0 for fewer than two values.
  double sd() const {
    if (values.size() < 2) return 0;
    const double m = mean();
    double s = 0;
    for (double v : values) s += (v - m) * (v - m);
    return std::sqrt(s / static_cast<double>(values.size() - 1));
  }
};

}  // namespace paramkit
