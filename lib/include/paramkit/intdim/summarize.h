// The intrinsic dimension from a sweep's runs: for a threshold (0.9: d_int90) and a baseline (the mean
// accuracy of direct training, "individual", or a fixed one such as 1.0, "global"), the smallest tested
// d whose mean accuracy reaches threshold x baseline, the d interpolated linearly between it and the
// largest tested d below it, and those bracketing runs. No LibTorch.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace paramkit::intdim {

struct Run {
  int64_t d = 0;  // 0: direct training
  double accuracy = 0;
  std::string source;  // the report it came from
};

struct Level {
  int64_t d = 0;
  double mean = 0, sd = 0;  // sd: sample standard deviation (0 for one run)
  int64_t runs = 0;
};

struct Threshold {
  std::string baseline_name;  // "individual" or "global"
  double baseline = 0, target = 0;
  bool reached = false;
  int64_t d = 0;              // the smallest tested d reaching the target
  double d_interpolated = 0;  // linear in d between the bracketing levels (= d when the smallest d reaches it)
  std::optional<Level> below, at;
};

struct Summary {
  std::vector<Level> levels;  // by d, d = 0 (direct) first when present
  std::vector<Threshold> thresholds;
  double threshold = 0.9;
};

// Reads intdim-probe train reports (fields "d" and `metric`: test_accuracy, or train_accuracy for
// memorisation); InputError naming the file and field for a missing or non-finite value, an accuracy
// outside [0, 1], or runs of different models or label shuffling.
std::vector<Run> read_runs(const std::vector<std::string>& paths, const std::string& metric = "test_accuracy");
// UsageError for threshold outside (0, 1], a global baseline outside (0, 1], or no subspace runs.
// Without direct runs (d = 0) only the global threshold is computed.
Summary summarize(const std::vector<Run>& runs, double threshold, double global_baseline);
nlohmann::json to_json(const Summary& s);

}  // namespace paramkit::intdim
