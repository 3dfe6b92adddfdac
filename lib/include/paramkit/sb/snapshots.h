// Population snapshots: particles observed at a few times, no particle followed from one time to the
// next (mmsb-fit's input). CSV with a time column and coordinate columns, or HDF5/safetensors with "t"
// [N] and "x" [N, d]; rows are grouped by their time.
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

namespace paramkit::sb {

struct Snapshots {
  std::vector<double> times;       // strictly increasing
  std::vector<torch::Tensor> x;    // per time: [n_k, d] float64
  int64_t dim() const { return x.empty() ? 0 : x.front().size(1); }
  int64_t size() const { return static_cast<int64_t>(times.size()); }
  // UsageError naming `source`: fewer than `min_snapshots` times, a snapshot with fewer than 2
  // particles, differing dimensions, non-finite or huge (|x| > 1e12) values, unsorted or repeated times.
  void validate(const std::string& source, int64_t min_snapshots = 2) const;
};

// `time_column` names the time column (CSV) and every other column is a coordinate (or `columns`, when
// given). InputError naming the file and column for a missing column, NaN, a non-numeric cell.
Snapshots load_snapshots(const std::filesystem::path& path, const std::string& time_column = "t",
                         const std::vector<std::string>& columns = {});
// CSV: t, x1..xd (or the given names); HDF5/safetensors: t, x. Atomic.
void save_snapshots(const std::filesystem::path& path, const Snapshots& s, const std::vector<std::string>& names = {});

// Splits off the snapshots at `times` (each must match a snapshot's time within 1e-9): returns the
// held-out ones; `s` keeps the rest. UsageError for a time that matches none.
Snapshots hold_out(Snapshots& s, const std::vector<double>& times, const std::string& source);

}  // namespace paramkit::sb
