// Format dispatch, Hugging Face folders (single file or shards with an index written last).
#include "paramkit/io/tensor_store.h"

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <map>
#include <optional>
#include <set>
#include <mutex>
#include <thread>
#include <nlohmann/json.hpp>

#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"
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

// "model-00002-of-00004.safetensors" -> {"model", 2, 4, width 5}; nullopt for other names.
struct SeriesName {
  std::string prefix;
  unsigned long k = 0, n = 0;
  size_t width = 0;
  std::string member(unsigned long i) const {
    char buf[64];
    std::snprintf(buf, sizeof buf, "-%0*lu-of-%0*lu.safetensors", static_cast<int>(width), i, static_cast<int>(width), n);
    return prefix + buf;
  }
};
std::optional<SeriesName> parse_series(const std::string& f) {
  const std::string ext = ".safetensors";
  if (f.size() <= ext.size() || f.compare(f.size() - ext.size(), ext.size(), ext) != 0) return std::nullopt;
  const std::string stem = f.substr(0, f.size() - ext.size());
  const size_t of = stem.rfind("-of-");
  if (of == std::string::npos) return std::nullopt;
  const std::string n = stem.substr(of + 4);
  const size_t dash = stem.rfind('-', of - 1);
  if (of == 0 || dash == std::string::npos) return std::nullopt;
  const std::string k = stem.substr(dash + 1, of - dash - 1);
  auto digits = [](const std::string& x) {
    return !x.empty() && x.size() <= 9 && std::all_of(x.begin(), x.end(), [](unsigned char c) { return std::isdigit(c); });
  };
  if (!digits(k) || !digits(n)) return std::nullopt;
  SeriesName s{stem.substr(0, dash), std::stoul(k), std::stoul(n), k.size()};
  if (s.k == 0 || s.n == 0 || s.k > s.n) return std::nullopt;
  return s;
}

// The weight files of a Hugging Face folder: what a folder output replaces (everything else is kept).
bool is_weight_file(const std::string& f) { return f == kIndex || f == kSingle || parse_series(f).has_value(); }

// Members of each model-0000k-of-0000N series among `files` that are absent, as "first missing file",
// with how many of the N are present; empty when every series is complete.
struct SeriesGap {
  std::string missing;
  size_t present = 0, total = 0;
};
std::optional<SeriesGap> series_gap(const std::vector<std::string>& files) {
  std::map<std::pair<std::string, unsigned long>, std::set<unsigned long>> series;
  std::map<std::pair<std::string, unsigned long>, SeriesName> example;
  for (const auto& f : files)
    if (auto s = parse_series(f)) {
      series[{s->prefix, s->n}].insert(s->k);
      example.emplace(std::make_pair(s->prefix, s->n), *s);
    }
  for (const auto& [key, ks] : series)
    for (unsigned long i = 1; i <= key.second; ++i)
      if (!ks.count(i)) return SeriesGap{example.at(key).member(i), ks.size(), key.second};
  return std::nullopt;
}

void refuse_folder_as_file(const fs::path& p) {
  std::error_code ec;
  if (fs::is_directory(p, ec)) throw InputError(p.string(), "", "is a folder, not a file");
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
    refuse_folder_as_file(dir / kIndex);
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
    // The index names every member of its shard series (a shard holds at least one tensor).
    std::vector<std::string> files;
    for (const auto& [f, names] : by_file) files.push_back(f);
    if (auto gap = series_gap(files))
      throw InputError(source_, "weight_map",
                       "names " + std::to_string(gap->present) + " of the " + std::to_string(gap->total) +
                           " shards of its series; no tensor is in '" + gap->missing + "'");
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
      // The shard holds exactly what the index gives it: a tensor the index puts elsewhere or does not
      // list means shards and index come from different writes (a partly replaced folder).
      if (shard->tensors().size() != names.size())
        for (const auto& t : shard->tensors()) {
          auto w = wm.find(t.name);
          if (w == wm.end())
            throw InputError(p.string(), "tensor '" + t.name + "'",
                             "is in the shard but not in " + std::string(kIndex) + " (shards and index disagree)");
          if (w->get<std::string>() != f)
            throw InputError(p.string(), "tensor '" + t.name + "'",
                             "is in this shard but " + std::string(kIndex) + " puts it in '" + w->get<std::string>() +
                                 "' (shards and index disagree)");
        }
      shards_.push_back(std::move(shard));
    }
    // Writers that stamp provenance (paramkit's) stamp the same into the index and every shard: one that
    // differs was written by another run (the old index of a folder beside some new shards, say,
    // with the same tensors in another dtype). Folders without provenance are not judged by it.
    std::string ref, ref_source;
    auto ip = metadata_.find("provenance");
    if (ip != metadata_.end()) ref = ip->second, ref_source = source_;
    for (const auto& sh : shards_) {
      auto sp = sh->metadata().find("provenance");
      if (sp == sh->metadata().end()) continue;
      if (ref_source.empty()) {
        ref = sp->second, ref_source = sh->source();
      } else if (sp->second != ref) {
        throw InputError(sh->source(), "__metadata__.provenance",
                         "differs from that of " + ref_source + ": shards and index come from different writes");
      }
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
      check_io_stop();
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
        check_io_stop();
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
  if (const uint8_t* p = mapped(t)) return convert_dtype_chunked(p, t.dtype, dst, to, t.numel());
  std::vector<uint8_t> tmp(t.nbytes());
  read(t, tmp.data());
  convert_dtype_chunked(tmp.data(), t.dtype, dst, to, t.numel());
}

std::unique_ptr<TensorReader> open_hf_folder(const fs::path& dir) {
  if (fs::exists(dir / kIndex)) return std::make_unique<ShardedReader>(dir);
  if (fs::exists(dir / kSingle)) return std::make_unique<SingleReader>(dir / kSingle);
  std::vector<fs::path> found;
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && has_ext(e.path(), {".safetensors"})) {
      found.push_back(e.path());
      names.push_back(e.path().filename().string());
    }
  // Shards without their index: only a whole series could be read, and without the index even that
  // may be a partly written folder.
  if (auto gap = series_gap(names))
    throw InputError(dir.string(), "",
                     "'" + gap->missing + "' is missing: the folder holds " + std::to_string(gap->present) + " of the " +
                         std::to_string(gap->total) + " shards of a series and no " + kIndex);
  if (found.size() == 1) return std::make_unique<SingleReader>(found[0]);
  throw InputError(dir.string(), "",
                   found.empty() ? "no model.safetensors, model.safetensors.index.json or *.safetensors in the folder"
                                 : "several *.safetensors files but no model.safetensors.index.json");
}

std::unique_ptr<TensorReader> open_tensors(const fs::path& path) {
  if (!fs::exists(path)) throw InputError(path.string(), "", "no such file or folder");
  // A folder named like a file is a mistake, not a Hugging Face folder.
  if (fs::is_directory(path) && has_ext(path, {".safetensors", ".h5", ".hdf5", ".json"}))
    throw InputError(path.string(), "", "is a folder, not a file");
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

WriteResult write_tensors(const fs::path& path, StoreFormat format, std::vector<TensorRecord> records, const FillFn& fill,
                          const Metadata& metadata, const WriteOptions& options) {
  std::sort(records.begin(), records.end(), [](auto& a, auto& b) { return a.name < b.name; });
  for (size_t i = 1; i < records.size(); ++i)
    if (records[i].name == records[i - 1].name) throw UsageError(path.string() + ": duplicate tensor name '" + records[i].name + "'");
  std::optional<InterruptibleIo> stoppable;
  if (options.interruptible) stoppable.emplace();
  switch (format) {
    case StoreFormat::safetensors: write_single(path, records, fill, metadata, options.fill_threads); return {};
    case StoreFormat::sharded:
      return write_sharded(path, std::move(records), fill, metadata, options.shard_size, options.fill_threads,
                           options.side_files_from);
    case StoreFormat::hdf5:
      write_h5(path, std::move(records), fill, metadata, options.compression, options.fill_threads);
      return {};
  }
  return {};
}

namespace {
// Side files of `from` (not weights, not hidden) copied into `into`.
std::vector<std::string> copy_side_files_into(const fs::path& from, const fs::path& into) {
  std::vector<std::string> copied;
  for (const auto& e : fs::directory_iterator(from)) {
    const std::string f = e.path().filename().string();
    if (!e.is_regular_file() || f == kIndex || has_ext(e.path(), {".safetensors"}) || f[0] == '.') continue;
    write_file_atomic(into / f, read_file(e.path()));
    copied.push_back(f);
  }
  std::sort(copied.begin(), copied.end());
  return copied;
}
}  // namespace

WriteResult write_sharded(const fs::path& dir, std::vector<TensorRecord> records, const FillFn& fill, const Metadata& metadata,
                          uint64_t shard_size, int fill_threads, const fs::path& side_files_from) {
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
  // The whole folder is built beside the target and swapped in: readers never see some shards of the
  // new write beside the old index, and a killed write leaves the old folder (or none) as it was.
  AtomicFolder folder(dir);
  const fs::path tmp = folder.temp_path();
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
    write_single(tmp / names[i], shards[i], fill, metadata, fill_threads);
    test_kill_point("PARAMKIT_TEST_KILL_AFTER_SHARD", static_cast<long>(i));
    for (const auto& r : shards[i]) weight_map[r.name] = names[i];
  }
  if (count > 1) {
    nlohmann::json meta = {{"total_size", total}};
    for (const auto& [k, v] : metadata) meta[k] = v;
    nlohmann::json idx = {{"metadata", meta}, {"weight_map", weight_map}};
    write_file_atomic(tmp / kIndex, idx.dump(2) + "\n");
  }
  WriteResult result;
  std::error_code ec;
  if (!side_files_from.empty() && fs::is_directory(side_files_from, ec) && !fs::equivalent(side_files_from, dir, ec))
    result.copied_files = copy_side_files_into(side_files_from, tmp);
  // The old folder's other files (config.json, tokenizer files, README...) stay; its weights do not.
  folder.keep_from_target([](const std::string& f) {
    return !is_weight_file(f) && !(f[0] == '.' && f.find(".tmp-") != std::string::npos);
  });
  check_io_stop();
  folder.commit();
  return result;
}

std::vector<std::string> copy_hf_side_files(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  if (!fs::is_directory(from) || fs::equivalent(from, to, ec)) return {};
  return copy_side_files_into(from, to);
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
