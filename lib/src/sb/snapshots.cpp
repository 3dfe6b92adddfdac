// Snapshot files.
#include "paramkit/sb/snapshots.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "paramkit/core/error.h"
#include "paramkit/core/provenance.h"
#include "paramkit/io/csv.h"
#include "paramkit/io/tensor_store.h"
#include "paramkit/torch/state_dict.h"

namespace paramkit::sb {

namespace {
bool ends_with(const std::string& s, const std::string& e) { return s.size() >= e.size() && s.compare(s.size() - e.size(), e.size(), e) == 0; }
std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}
Snapshots group(const torch::Tensor& t, const torch::Tensor& x, const std::string& source) {
  std::map<double, std::vector<int64_t>> rows;
  const auto ta = t.accessor<double, 1>();
  for (int64_t i = 0; i < t.size(0); ++i) rows[ta[i]].push_back(i);
  Snapshots s;
  for (const auto& [time, r] : rows) {
    s.times.push_back(time);
    s.x.push_back(x.index_select(0, torch::tensor(r, torch::kInt64)));
  }
  s.validate(source, 1);
  return s;
}
}  // namespace

void Snapshots::validate(const std::string& source, int64_t min_snapshots) const {
  if (size() < min_snapshots)
    throw InputError(source, "t", fmt::format("{} snapshot time(s); need at least {}", size(), min_snapshots));
  for (size_t k = 0; k < times.size(); ++k) {
    if (!std::isfinite(times[k])) throw InputError(source, "t", "a time is NaN or infinite");
    if (k > 0 && !(times[k] > times[k - 1])) throw InputError(source, "t", fmt::format("times must increase strictly ({} after {})", times[k], times[k - 1]));
    if (x[k].dim() != 2 || x[k].size(0) < 2)
      throw InputError(source, "t", fmt::format("the snapshot at t = {} has {} particle(s); need at least 2", times[k], x[k].dim() == 2 ? x[k].size(0) : 0));
    if (x[k].size(1) != dim()) throw InputError(source, "x", "snapshots differ in dimension");
    if (!torch::isfinite(x[k]).all().item<bool>()) throw InputError(source, "x", fmt::format("NaN or infinite coordinates at t = {}", times[k]));
    if (x[k].abs().max().item<double>() > 1e12) throw InputError(source, "x", fmt::format("a coordinate above 1e12 in magnitude at t = {}", times[k]));
  }
}

Snapshots load_snapshots(const std::filesystem::path& path, const std::string& time_column, const std::vector<std::string>& columns) {
  const std::string src = path.string(), name = lower(path.filename().string());
  if (ends_with(name, ".csv")) {
    const Table tab = read_csv(path);
    if (!tab.has(time_column)) throw InputError(src, time_column, "no such column (the time column; see --time-column)");
    std::vector<std::string> cols = columns;
    if (cols.empty())
      for (const auto& c : tab.columns)
        if (c.name != time_column) cols.push_back(c.name);
    if (cols.empty()) throw InputError(src, "columns", "no coordinate columns besides the time");
    if (tab.rows == 0) throw InputError(src, "rows", "no particles");
    torch::Tensor t = torch::empty({static_cast<int64_t>(tab.rows)}, torch::kFloat64);
    torch::Tensor x = torch::empty({static_cast<int64_t>(tab.rows), static_cast<int64_t>(cols.size())}, torch::kFloat64);
    auto fill = [&](const std::string& col, const std::function<void(size_t, double)>& put) {
      if (!tab.has(col)) throw InputError(src, col, "no such column");
      const Column& c = tab.col(col);
      if (!c.numeric) throw InputError(src, col, "not numeric");
      for (size_t r = 0; r < tab.rows; ++r) {
        if (c.missing[r] || !std::isfinite(c.values[r])) throw InputError(src, col, fmt::format("{}: missing, NaN or infinite", tab.where(r)));
        put(r, c.values[r]);
      }
    };
    auto ta = t.accessor<double, 1>();
    auto xa = x.accessor<double, 2>();
    fill(time_column, [&](size_t r, double v) { ta[static_cast<int64_t>(r)] = v; });
    for (size_t j = 0; j < cols.size(); ++j) fill(cols[j], [&](size_t r, double v) { xa[static_cast<int64_t>(r)][static_cast<int64_t>(j)] = v; });
    return group(t, x, src);
  }
  if (ends_with(name, ".h5") || ends_with(name, ".hdf5") || ends_with(name, ".safetensors")) {
    const auto reader = open_tensors(path);
    for (const char* n : {"t", "x"})
      if (!reader->contains(n)) throw InputError(src, n, "missing: snapshot files hold 't' [N] and 'x' [N, d]");
    const torch::Tensor t = read_tensor(*reader, "t").to(torch::kFloat64).flatten(), x = read_tensor(*reader, "x").to(torch::kFloat64);
    if (x.dim() != 2 || x.size(0) != t.size(0)) throw InputError(src, "x", "expected [N, d] with one row per time in 't'");
    if (!torch::isfinite(t).all().item<bool>()) throw InputError(src, "t", "NaN or infinite times");
    return group(t.contiguous(), x, src);
  }
  throw InputError(src, "format", "unknown extension: expected .csv, .h5/.hdf5 or .safetensors");
}

void save_snapshots(const std::filesystem::path& path, const Snapshots& s, const std::vector<std::string>& names) {
  const std::string name = lower(path.filename().string());
  const int64_t d = s.dim();
  std::vector<double> t;
  std::vector<torch::Tensor> parts;
  for (size_t k = 0; k < s.times.size(); ++k) {
    t.insert(t.end(), static_cast<size_t>(s.x[k].size(0)), s.times[k]);
    parts.push_back(s.x[k].to(torch::kFloat64));
  }
  const torch::Tensor x = torch::cat(parts).contiguous();
  if (ends_with(name, ".csv")) {
    Table tab;
    tab.rows = t.size();
    tab.columns.push_back(numeric_column("t", t));
    for (int64_t j = 0; j < d; ++j) {
      const torch::Tensor c = x.select(1, j).contiguous();
      tab.columns.push_back(numeric_column(static_cast<size_t>(j) < names.size() ? names[static_cast<size_t>(j)] : fmt::format("x{}", j + 1),
                                           std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel())));
    }
    write_csv(path, tab);
  } else if (ends_with(name, ".h5") || ends_with(name, ".hdf5") || ends_with(name, ".safetensors")) {
    save_tensors(path, {{"t", torch::tensor(t, torch::kFloat64)}, {"x", x}}, provenance_metadata());
  } else {
    throw UsageError(fmt::format("{}: unknown extension: expected .csv, .h5/.hdf5 or .safetensors", path.string()));
  }
}

Snapshots hold_out(Snapshots& s, const std::vector<double>& times, const std::string& source) {
  Snapshots held, keep;
  std::vector<bool> taken(s.times.size(), false);
  for (double t : times) {
    bool found = false;
    for (size_t k = 0; k < s.times.size(); ++k)
      if (std::abs(s.times[k] - t) <= 1e-9 * std::max(1.0, std::abs(t))) {
        if (taken[k]) throw UsageError(fmt::format("--holdout: time {} given twice", t));
        taken[k] = found = true;
      }
    if (!found) throw UsageError(fmt::format("--holdout {}: {} has no snapshot at that time", t, source));
  }
  for (size_t k = 0; k < s.times.size(); ++k) {
    Snapshots& to = taken[k] ? held : keep;
    to.times.push_back(s.times[k]);
    to.x.push_back(s.x[k]);
  }
  s = keep;
  return held;
}

}  // namespace paramkit::sb
