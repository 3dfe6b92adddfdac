// Format dispatch, Hugging Face folders (single file or shards with an index written last).
#include "paramkit/io/tensor_store.h"

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
#include <nlohmann/json.hpp>

#include "paramkit/core/error.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/io/json.h"

namespace fs = std::filesystem;

namespace paramkit {
namespace {
constexpr const char* kIndex = "model.safetensors.index.json";
constexpr const char* kSingle = "model.safetensors";

bool has_ext(const fs::path& p, std::initializer_list<const char*> exts) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
  for (auto x : exts)
    if (e == x) return true;
  return false;
}

class SingleReader : public TensorReader {
 public:
  explicit SingleReader(const fs::path& p) : file_(p) {}
  const std::string& source() const override { return file_.source(); }
  StoreFormat format() const override { return StoreFormat::safetensors; }
  const std::vector<TensorInfo>& tensors() const override { return file_.tensors(); }
  const Metadata& metadata() const override { return file_.metadata(); }
  void read(const TensorInfo& t, void* dst) const override { file_.read(file_.info(t.name), dst); }
  std::vector<fs::path> files() const override { return {file_.source()}; }
  const uint8_t* mapped(const TensorInfo& t) const override {
    return file_.writable() ? file_.data(file_.info(t.name)) : nullptr;
  }

 private:
  SafetensorsFile file_;
};

class ShardedReader : public TensorReader {
 public:
  explicit ShardedReader(const fs::path& dir) : dir_(dir), source_((dir / kIndex).string()) {
    nlohmann::json idx = read_json(dir / kIndex);
    if (!idx.is_object()) throw InputError(source_, "", "expected a JSON object");
    const nlohmann::json wm = json_field(idx, "weight_map", source_);
    if (!wm.is_object()) throw InputError(source_, "weight_map", "expected an object of tensor -> file");
    if (idx.contains("metadata") && idx["metadata"].is_object())
      for (auto it = idx["metadata"].begin(); it != idx["metadata"].end(); ++it)
        metadata_[it.key()] = it.value().is_string() ? it.value().get<std::string>() : it.value().dump();
    std::map<std::string, std::vector<std::string>> by_file;
    for (auto it = wm.begin(); it != wm.end(); ++it) {
      if (!it.value().is_string()) throw InputError(source_, "weight_map." + it.key(), "expected a file name");
      std::string f = it.value().get<std::string>();
      if (f.find('/') != std::string::npos || f == ".." || f.empty())
        throw InputError(source_, "weight_map." + it.key(), "file name '" + f + "' must be a plain name in the folder");
      by_file[f].push_back(it.key());
    }
    for (auto& [f, names] : by_file) {
      fs::path p = dir / f;
      if (!fs::exists(p)) throw InputError(source_, "weight_map", "shard '" + f + "' is missing from " + dir.string());
      auto shard = std::make_unique<SafetensorsFile>(p);
      for (const auto& n : names) {
        if (!shard->contains(n))
          throw InputError(p.string(), "tensor '" + n + "'", "listed in " + std::string(kIndex) + " but not in the shard");
        TensorInfo t = shard->info(n);
        tensors_.push_back(t);
        owner_[n] = shard.get();
      }
      shards_.push_back(std::move(shard));
    }
    std::sort(tensors_.begin(), tensors_.end(), [](auto& a, auto& b) { return a.name < b.name; });
    // Shard metadata (provenance) fills in what the index lacks.
    for (const auto& s : shards_)
      for (const auto& [k, v] : s->metadata()) metadata_.emplace(k, v);
  }
  const std::string& source() const override { return source_; }
  StoreFormat format() const override { return StoreFormat::sharded; }
  const std::vector<TensorInfo>& tensors() const override { return tensors_; }
  const Metadata& metadata() const override { return metadata_; }
  void read(const TensorInfo& t, void* dst) const override {
    auto it = owner_.find(t.name);
    if (it == owner_.end()) throw InputError(source_, "tensor '" + t.name + "'", "not found");
    it->second->read(it->second->info(t.name), dst);
  }
  const uint8_t* mapped(const TensorInfo& t) const override {
    auto it = owner_.find(t.name);
    return it == owner_.end() || !it->second->writable() ? nullptr : it->second->data(it->second->info(t.name));
  }
  std::vector<fs::path> files() const override {
    std::vector<fs::path> r{dir_ / kIndex};
    for (const auto& s : shards_) r.push_back(s->source());
    return r;
  }

 private:
  fs::path dir_;
  std::string source_;
  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
  std::map<std::string, SafetensorsFile*> owner_;
  std::vector<TensorInfo> tensors_;
  Metadata metadata_;
};

void write_single(const fs::path& path, const std::vector<TensorRecord>& records, const FillFn& fill,
                  const Metadata& metadata, int threads) {
  SafetensorsWriter w(path, metadata);
  for (const auto& r : records) w.add(r.name, r.dtype, r.shape);
  std::vector<TensorRecord> ordered;
  for (const auto& t : w.layout()) ordered.push_back({t.name, t.dtype, t.shape});
  fill_in_order(ordered, fill, threads, [&](size_t i, const uint8_t* bytes) { w.write(ordered[i].name, bytes); });
  w.commit();
}
}  // namespace

void fill_in_order(const std::vector<TensorRecord>& records, const FillFn& fill, int threads,
                   const std::function<void(size_t, const uint8_t*)>& sink) {
  const size_t count = records.size();
  if (threads <= 1 || count <= 1) {
    std::vector<uint8_t> buf;
    for (size_t i = 0; i < count; ++i) {
      buf.resize(records[i].nbytes());
      fill(records[i], buf.data());
      sink(i, buf.data());
    }
    return;
  }
  // Slot i % window holds record i. A worker may start record i once record i - window has been
  // handed to the sink; the calling thread hands them over in order.
  const size_t workers = std::min<size_t>(static_cast<size_t>(threads), count);
  const size_t window = workers + 1;
  std::vector<std::vector<uint8_t>> slots(window);
  std::vector<char> ready(count, 0);
  std::mutex mu;
  std::condition_variable cv;
  size_t next = 0, done = 0;  // next record to claim; records handed to the sink
  std::exception_ptr error;
  auto record_error = [&] {  // the first error wins; everyone waiting sees it
    std::lock_guard<std::mutex> lock(mu);
    if (!error) error = std::current_exception();
    cv.notify_all();
  };
  auto work = [&] {
    for (;;) {
      size_t i;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return error || next >= count || next < done + window; });
        if (error || next >= count) return;
        i = next++;
      }
      try {
        std::vector<uint8_t>& buf = slots[i % window];
        buf.resize(records[i].nbytes());
        fill(records[i], buf.data());
      } catch (...) {
        record_error();
        return;
      }
      std::lock_guard<std::mutex> lock(mu);
      ready[i] = 1;
      cv.notify_all();
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 0; t < workers; ++t) pool.emplace_back(work);
  for (size_t i = 0; i < count; ++i) {
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return error || ready[i]; });
      if (error) break;
    }
    try {
      sink(i, slots[i % window].data());
    } catch (...) {
      record_error();
      break;
    }
    std::lock_guard<std::mutex> lock(mu);
    ++done;
    cv.notify_all();
  }
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

bool TensorReader::contains(const std::string& name) const { return find_tensor(tensors(), name) != nullptr; }

const TensorInfo& TensorReader::info(const std::string& name) const {
  const TensorInfo* t = find_tensor(tensors(), name);
  if (!t) throw InputError(source(), "tensor '" + name + "'", "not found");
  return *t;
}

void TensorReader::read_as(const TensorInfo& t, DType to, void* dst) const {
  if (to == t.dtype) return read(t, dst);
  std::vector<uint8_t> tmp(t.nbytes());
  read(t, tmp.data());
  convert_dtype(tmp.data(), t.dtype, dst, to, t.numel());
}

std::unique_ptr<TensorReader> open_hf_folder(const fs::path& dir) {
  if (fs::exists(dir / kIndex)) return std::make_unique<ShardedReader>(dir);
  if (fs::exists(dir / kSingle)) return std::make_unique<SingleReader>(dir / kSingle);
  std::vector<fs::path> found;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && has_ext(e.path(), {".safetensors"})) found.push_back(e.path());
  if (found.size() == 1) return std::make_unique<SingleReader>(found[0]);
  throw InputError(dir.string(), "",
                   found.empty() ? "no model.safetensors, model.safetensors.index.json or *.safetensors in the folder"
                                 : "several *.safetensors files but no model.safetensors.index.json");
}

std::unique_ptr<TensorReader> open_tensors(const fs::path& path) {
  if (!fs::exists(path)) throw InputError(path.string(), "", "no such file or folder");
  if (fs::is_directory(path)) return open_hf_folder(path);
  if (has_ext(path, {".h5", ".hdf5"})) return open_h5(path);
  if (path.filename() == kIndex) return std::make_unique<ShardedReader>(path.parent_path());
  return std::make_unique<SingleReader>(path);
}

StoreFormat format_for_path(const fs::path& path) {
  std::string s = path.string();
  if (!s.empty() && s.back() == '/') return StoreFormat::sharded;
  if (fs::is_directory(path)) return StoreFormat::sharded;
  if (has_ext(path, {".h5", ".hdf5"})) return StoreFormat::hdf5;
  if (path.extension().empty()) return StoreFormat::sharded;
  return StoreFormat::safetensors;
}

void write_tensors(const fs::path& path, StoreFormat format, std::vector<TensorRecord> records, const FillFn& fill,
                   const Metadata& metadata, const WriteOptions& options) {
  std::sort(records.begin(), records.end(), [](auto& a, auto& b) { return a.name < b.name; });
  for (size_t i = 1; i < records.size(); ++i)
    if (records[i].name == records[i - 1].name) throw UsageError(path.string() + ": duplicate tensor name '" + records[i].name + "'");
  switch (format) {
    case StoreFormat::safetensors: return write_single(path, records, fill, metadata, options.fill_threads);
    case StoreFormat::sharded:
      return write_sharded(path, std::move(records), fill, metadata, options.shard_size, options.fill_threads);
    case StoreFormat::hdf5: return write_h5(path, std::move(records), fill, metadata, options.compression, options.fill_threads);
  }
}

void write_sharded(const fs::path& dir, std::vector<TensorRecord> records, const FillFn& fill, const Metadata& metadata,
                   uint64_t shard_size, int fill_threads) {
  if (shard_size == 0) shard_size = 5000000000ull;
  std::sort(records.begin(), records.end(), [](auto& a, auto& b) { return a.name < b.name; });
  // Greedy packing in name order; a tensor larger than the limit gets a shard of its own.
  std::vector<std::vector<TensorRecord>> shards(1);
  uint64_t cur = 0, total = 0;
  for (auto& r : records) {
    uint64_t n = r.nbytes();
    total += n;
    if (!shards.back().empty() && cur + n > shard_size) {
      shards.emplace_back();
      cur = 0;
    }
    shards.back().push_back(r);
    cur += n;
  }
  OutputSet out(dir);
  const size_t count = shards.size();
  std::vector<std::string> names;
  if (count == 1) {
    names.push_back(kSingle);
  } else {
    for (size_t i = 0; i < count; ++i) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", i + 1, count);
      names.push_back(buf);
    }
  }
  nlohmann::json weight_map = nlohmann::json::object();
  for (size_t i = 0; i < count; ++i) {
    write_single(dir / names[i], shards[i], fill, metadata, fill_threads);
    out.add(names[i]);
    for (const auto& r : shards[i]) weight_map[r.name] = names[i];
  }
  if (count > 1) {
    nlohmann::json meta = {{"total_size", total}};
    for (const auto& [k, v] : metadata) meta[k] = v;
    nlohmann::json idx = {{"metadata", meta}, {"weight_map", weight_map}};
    out.commit(kIndex, idx.dump(2) + "\n");
  } else {
    std::error_code ec;
    fs::remove(dir / kIndex, ec);  // a stale index would shadow the new single file
  }
  // Shards of an earlier, differently sized write are no longer referenced.
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string f = e.path().filename().string();
    if (f.rfind("model-", 0) == 0 && has_ext(e.path(), {".safetensors"}) &&
        std::find(names.begin(), names.end(), f) == names.end() && f.find("-of-") != std::string::npos) {
      std::error_code ec;
      fs::remove(e.path(), ec);
    }
  }
  if (count > 1) {
    std::error_code ec;
    fs::remove(dir / kSingle, ec);
  }
}

std::vector<std::string> copy_hf_side_files(const fs::path& from, const fs::path& to) {
  std::vector<std::string> copied;
  std::error_code ec;
  if (!fs::is_directory(from) || fs::equivalent(from, to, ec)) return copied;
  for (const auto& e : fs::directory_iterator(from)) {
    const std::string f = e.path().filename().string();
    if (!e.is_regular_file() || f == kIndex || has_ext(e.path(), {".safetensors"}) || f[0] == '.') continue;
    write_file_atomic(to / f, read_file(e.path()));
    copied.push_back(f);
  }
  std::sort(copied.begin(), copied.end());
  return copied;
}

uint64_t parse_size(const std::string& text, const std::string& flag) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  if (i == 0) throw UsageError(flag + ": expected a size like 2GB, 500MB or 1048576, got '" + text + "'");
  double v = std::stod(text.substr(0, i));
  std::string unit = text.substr(i);
  std::transform(unit.begin(), unit.end(), unit.begin(), [](unsigned char c) { return std::toupper(c); });
  static const std::map<std::string, double> units = {
      {"", 1}, {"B", 1}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
      {"KIB", 1024.0}, {"MIB", 1048576.0}, {"GIB", 1073741824.0}, {"TIB", 1099511627776.0}};
  auto it = units.find(unit);
  if (it == units.end() || v <= 0)
    throw UsageError(flag + ": expected a positive size like 2GB, 500MB or 1048576, got '" + text + "'");
  return static_cast<uint64_t>(v * it->second);
}

}  // namespace paramkit
