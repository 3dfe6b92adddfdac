// In-memory datasets (features x, labels y), loaders for IDX/MNIST, HDF5 X/y and CSV tables, seeded
// splits and resumable batch iterators.
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "paramkit/core/rng.h"
#include "paramkit/io/csv.h"

namespace paramkit {

struct Dataset {
  torch::Tensor x;  // [N, ...] float32
  torch::Tensor y;  // [N] int64 class labels (or float targets)
  int64_t size() const { return x.defined() ? x.size(0) : 0; }
  Dataset subset(const std::vector<int64_t>& rows) const;
};

// The labels of a seeded random fraction of the rows (round(fraction N) of them) permuted among those
// rows: the shuffled-label data sets of memorisation studies (Zhang et al. 2017; Li et al. 2018).
// UsageError for a fraction outside [0, 1].
Dataset shuffle_labels(const Dataset& data, double fraction, uint64_t seed);

// IDX images (uint8, scaled to [0,1]) and labels; the two must agree on N.
Dataset load_idx_dataset(const std::filesystem::path& images, const std::filesystem::path& labels);
// MNIST from a folder with train-images-idx3-ubyte[.gz] etc. split: "train" or "test".
Dataset load_mnist(const std::filesystem::path& dir, const std::string& split);
// HDF5 datasets X (features) and y (labels).
Dataset load_h5_dataset(const std::filesystem::path& path);
// Numeric feature columns and a label column of a CSV table (rows with NA dropped by the caller).
Dataset table_dataset(const Table& table, const std::vector<std::string>& features, const std::string& label);

// Seeded split of 0..n-1 into parts of the given fractions (summing to <= 1; the last part takes the
// remainder when they sum to 1).
std::vector<std::vector<int64_t>> split_indices(int64_t n, const std::vector<double>& fractions, uint64_t seed);

// Batches over n rows: shuffled per epoch from (seed, epoch), so a position (epoch, batch) is all a
// checkpoint needs to resume the same order.
class BatchIterator {
 public:
  BatchIterator(int64_t n, int64_t batch_size, bool shuffle, uint64_t seed, bool drop_last = false);
  int64_t batches_per_epoch() const;
  // Row indices of batch b of epoch e.
  std::vector<int64_t> batch(int64_t epoch, int64_t b);

 private:
  const std::vector<int64_t>& order(int64_t epoch);
  int64_t n_, batch_size_;
  bool shuffle_, drop_last_;
  uint64_t seed_;
  int64_t cached_epoch_ = -1;
  std::vector<int64_t> order_;
};

}  // namespace paramkit
