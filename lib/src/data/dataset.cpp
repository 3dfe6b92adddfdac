// Dataset loaders, splits and batch iteration.
#include "paramkit/data/dataset.h"

#include <cmath>

#include "paramkit/core/error.h"
#include "paramkit/core/rng.h"
#include "paramkit/io/idx.h"
#include "paramkit/torch/state_dict.h"

namespace fs = std::filesystem;

namespace paramkit {

Dataset Dataset::subset(const std::vector<int64_t>& rows) const {
  torch::Tensor idx = torch::tensor(rows, torch::kInt64);
  return {x.index_select(0, idx), y.index_select(0, idx)};
}

Dataset shuffle_labels(const Dataset& data, double fraction, uint64_t seed) {
  if (!(fraction >= 0 && fraction <= 1)) throw UsageError("the fraction of shuffled labels must be in [0, 1]");
  const int64_t n = data.size(), k = std::llround(fraction * static_cast<double>(n));
  if (k < 2) return {data.x, data.y.clone()};
  Rng rng(seed, 0x5348554646ull);  // its own stream: "SHUFF"
  const std::vector<int64_t> order = permutation(n, rng);  // the first k rows of a random order
  const std::vector<int64_t> perm = permutation(k, rng);
  std::vector<int64_t> source(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) source[i] = i;
  for (int64_t i = 0; i < k; ++i) source[order[i]] = order[perm[i]];
  return {data.x, data.y.index_select(0, torch::tensor(source, torch::kInt64))};
}

Dataset load_idx_dataset(const fs::path& images, const fs::path& labels) {
  IdxArray xi = read_idx(images);
  IdxArray yi = read_idx(labels);
  if (xi.dims.size() < 2) throw InputError(images.string(), "dims", "expected [N, ...] images, got " + shape_str(xi.dims));
  if (yi.dims.size() != 1) throw InputError(labels.string(), "dims", "expected [N] labels, got " + shape_str(yi.dims));
  if (xi.dims[0] != yi.dims[0])
    throw InputError(labels.string(), "dims", std::to_string(yi.dims[0]) + " labels for " + std::to_string(xi.dims[0]) +
                                                  " images in " + images.string());
  torch::Tensor x = torch::empty(xi.dims, torch::TensorOptions().dtype(to_torch_dtype(xi.dtype)));
  std::memcpy(x.data_ptr(), xi.data.data(), xi.data.size());
  x = x.to(torch::kFloat32);
  if (xi.dtype == DType::U8) x.div_(255.0);
  torch::Tensor y = torch::empty(yi.dims, torch::TensorOptions().dtype(to_torch_dtype(yi.dtype)));
  std::memcpy(y.data_ptr(), yi.data.data(), yi.data.size());
  return {x, y.to(torch::kInt64)};
}

Dataset load_mnist(const fs::path& dir, const std::string& split) {
  const std::string prefix = split == "train" ? "train" : split == "test" ? "t10k" : "";
  if (prefix.empty()) throw UsageError("MNIST split must be train or test, got '" + split + "'");
  auto find = [&](const std::string& base) {
    for (const char* suffix : {"", ".gz"}) {
      fs::path p = dir / (base + suffix);
      if (fs::exists(p)) return p;
    }
    throw InputError(dir.string(), base, "MNIST file not found (run scripts/fetch-data.sh)");
  };
  return load_idx_dataset(find(prefix + "-images-idx3-ubyte"), find(prefix + "-labels-idx1-ubyte"));
}

Dataset load_h5_dataset(const fs::path& path) {
  auto reader = open_tensors(path);
  if (!reader->contains("X") || !reader->contains("y"))
    throw InputError(path.string(), "X, y", "expected datasets named X (features) and y (labels)");
  torch::Tensor x = read_tensor(*reader, "X");
  torch::Tensor y = read_tensor(*reader, "y");
  if (x.dim() < 1 || y.dim() != 1 || x.size(0) != y.size(0))
    throw InputError(path.string(), "y", "expected [N] labels matching X's first dimension");
  bool u8 = x.scalar_type() == torch::kUInt8;
  x = x.to(torch::kFloat32);
  if (u8) x.div_(255.0);
  if (!y.is_floating_point()) y = y.to(torch::kInt64);
  return {x, y};
}

Dataset table_dataset(const Table& table, const std::vector<std::string>& features, const std::string& label) {
  const int64_t n = static_cast<int64_t>(table.rows);
  torch::Tensor x = torch::empty({n, static_cast<int64_t>(features.size())}, torch::kFloat32);
  auto xa = x.accessor<float, 2>();
  for (size_t j = 0; j < features.size(); ++j) {
    const Column& c = table.numeric(features[j]);
    for (int64_t i = 0; i < n; ++i) {
      if (c.missing[i]) throw InputError(table.source, "column '" + c.name + "'", "missing value in row " + std::to_string(i + 1));
      xa[i][static_cast<int64_t>(j)] = static_cast<float>(c.values[i]);
    }
  }
  const Column& l = table.numeric(label);
  torch::Tensor y = torch::empty({n}, torch::kFloat64);
  for (int64_t i = 0; i < n; ++i) {
    if (l.missing[i]) throw InputError(table.source, "column '" + l.name + "'", "missing value in row " + std::to_string(i + 1));
    y[i] = l.values[i];
  }
  return {x, y};
}

std::vector<std::vector<int64_t>> split_indices(int64_t n, const std::vector<double>& fractions, uint64_t seed) {
  double total = 0;
  for (double f : fractions) {
    if (!(f >= 0 && f <= 1)) throw UsageError("split fractions must lie in [0, 1]");
    total += f;
  }
  if (total > 1 + 1e-9) throw UsageError("split fractions sum to more than 1");
  Rng rng(seed, /*stream=*/0x5b1);
  auto perm = permutation(n, rng);
  std::vector<std::vector<int64_t>> parts;
  int64_t start = 0;
  for (size_t i = 0; i < fractions.size(); ++i) {
    int64_t count = (i + 1 == fractions.size() && std::fabs(total - 1) < 1e-9)
                        ? n - start
                        : static_cast<int64_t>(std::floor(fractions[i] * static_cast<double>(n)));
    count = std::min(count, n - start);
    parts.emplace_back(perm.begin() + start, perm.begin() + start + count);
    start += count;
  }
  return parts;
}

BatchIterator::BatchIterator(int64_t n, int64_t batch_size, bool shuffle, uint64_t seed, bool drop_last)
    : n_(n), batch_size_(batch_size), shuffle_(shuffle), drop_last_(drop_last), seed_(seed) {
  if (batch_size <= 0) throw UsageError("batch size must be positive");
}

int64_t BatchIterator::batches_per_epoch() const {
  return drop_last_ ? n_ / batch_size_ : (n_ + batch_size_ - 1) / batch_size_;
}

const std::vector<int64_t>& BatchIterator::order(int64_t epoch) {
  if (epoch != cached_epoch_) {
    if (shuffle_) {
      Rng rng(seed_, 0xba7c4000ull + static_cast<uint64_t>(epoch));
      order_ = permutation(n_, rng);
    } else {
      order_.resize(n_);
      for (int64_t i = 0; i < n_; ++i) order_[i] = i;
    }
    cached_epoch_ = epoch;
  }
  return order_;
}

std::vector<int64_t> BatchIterator::batch(int64_t epoch, int64_t b) {
  const auto& o = order(epoch);
  int64_t s = b * batch_size_;
  int64_t e = std::min(n_, s + batch_size_);
  if (s >= n_ || b < 0) throw Error("batch index out of range");
  return {o.begin() + s, o.begin() + e};
}

}  // namespace paramkit
