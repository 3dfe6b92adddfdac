// safetensors reading (mmap, validated like the reference implementation) and writing.
#include "paramkit/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>

#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/io/json.h"

namespace paramkit {
namespace {
constexpr uint64_t kMaxHeader = 100ull << 20;  // the reference reader's limit

uint64_t read_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Sorts by name and assigns contiguous data offsets: the deterministic layout every writer uses.
// Returns the data section's size.
uint64_t lay_out(std::vector<TensorInfo>& tensors) {
  std::sort(tensors.begin(), tensors.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  uint64_t off = 0;
  for (auto& t : tensors) {
    t.begin = off;
    off += t.nbytes();
    t.end = off;
  }
  return off;
}

std::string header_json(const std::vector<TensorInfo>& tensors, const Metadata& metadata) {
  nlohmann::json h = nlohmann::json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  for (const auto& t : tensors)
    h[t.name] = {{"dtype", std::string(dtype_name(t.dtype))}, {"shape", t.shape},
                 {"data_offsets", {t.begin, t.end}}};
  std::string s = h.dump();  // keys sorted (std::map), no spaces: deterministic
  s.append((8 - s.size() % 8) % 8, ' ');
  return s;
}
}  // namespace

void parse_safetensors_header(std::string_view header, uint64_t data_size, const std::string& source,
                              std::vector<TensorInfo>& tensors, Metadata& metadata) {
  nlohmann::json h = parse_json(header, source + ": header");
  if (!h.is_object()) throw InputError(source, "header", "expected a JSON object");
  tensors.clear();
  metadata.clear();
  for (auto it = h.begin(); it != h.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) throw InputError(source, "__metadata__", "expected an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string())
          throw InputError(source, "__metadata__." + m.key(), "expected a string value");
        metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string field = "tensor '" + name + "'";
    if (!v.is_object()) throw InputError(source, field, "expected an object");
    TensorInfo t;
    t.name = name;
    auto d = v.find("dtype");
    if (d == v.end() || !d->is_string()) throw InputError(source, field + ".dtype", "missing or not a string");
    auto dt = parse_dtype(d->get<std::string>());
    if (!dt) throw InputError(source, field + ".dtype", "unknown dtype '" + d->get<std::string>() + "'");
    t.dtype = *dt;
    auto s = v.find("shape");
    if (s == v.end() || !s->is_array()) throw InputError(source, field + ".shape", "missing or not an array");
    for (const auto& x : *s) {
      if (!x.is_number_unsigned()) throw InputError(source, field + ".shape", "expected non-negative integers");
      uint64_t u = x.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) throw InputError(source, field + ".shape", "dimension too large");
      t.shape.push_back(static_cast<int64_t>(u));
    }
    auto o = v.find("data_offsets");
    if (o == v.end() || !o->is_array() || o->size() != 2 || !(*o)[0].is_number_unsigned() ||
        !(*o)[1].is_number_unsigned())
      throw InputError(source, field + ".data_offsets", "expected [begin, end] non-negative integers");
    t.begin = (*o)[0].get<uint64_t>();
    t.end = (*o)[1].get<uint64_t>();
    if (t.begin > t.end) throw InputError(source, field + ".data_offsets", "begin after end");
    if (t.end > data_size)
      throw InputError(source, field + ".data_offsets",
                       "[" + std::to_string(t.begin) + ", " + std::to_string(t.end) + "] beyond the data section (" +
                           std::to_string(data_size) + " bytes)");
    uint64_t n;
    try {
      n = t.numel();
    } catch (const std::overflow_error&) {
      throw InputError(source, field + ".shape", "element count overflows");
    }
    if (n > UINT64_MAX / dtype_size(t.dtype) || n * dtype_size(t.dtype) != t.end - t.begin)
      throw InputError(source, field,
                       "shape " + shape_str(t.shape) + " of " + std::string(dtype_name(t.dtype)) + " needs " +
                           std::to_string(n * dtype_size(t.dtype)) + " bytes, data_offsets give " +
                           std::to_string(t.end - t.begin));
    tensors.push_back(std::move(t));
  }
  // Overlap check in offset order (empty tensors overlap nothing).
  std::vector<const TensorInfo*> by_offset;
  for (const auto& t : tensors)
    if (t.end > t.begin) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i)
    if (by_offset[i]->begin < by_offset[i - 1]->end)
      throw InputError(source, "tensor '" + by_offset[i]->name + "'",
                       "data overlaps tensor '" + by_offset[i - 1]->name + "'");
  std::sort(tensors.begin(), tensors.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : source_(path.string()) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw InputError(source_, "", std::string("cannot open: ") + std::strerror(errno));
  struct stat st;
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd_);
    throw InputError(source_, "", "not a regular file");
  }
  size_ = static_cast<uint64_t>(st.st_size);
  if (size_ > 0) {
    // Private, copy-on-write: zero-copy views handed out may be written without touching the file.
    // MAP_NORESERVE: no swap is reserved for pages nobody writes, so files larger than RAM map too.
    void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd_, 0);
    writable_ = p != MAP_FAILED;
    if (p == MAP_FAILED) p = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd_, 0);  // strict overcommit
    if (p == MAP_FAILED) {
      ::close(fd_);
      throw InputError(source_, "", std::string("cannot map: ") + std::strerror(errno));
    }
    base_ = static_cast<const uint8_t*>(p);
    mapped_ = true;
  }
  try {
    parse();
  } catch (...) {
    if (mapped_) ::munmap(const_cast<uint8_t*>(base_), size_);
    ::close(fd_);
    throw;
  }
}

SafetensorsFile::SafetensorsFile(const uint8_t* data, size_t size, std::string source)
    : source_(std::move(source)), base_(data), size_(size) {
  parse();
}

SafetensorsFile::~SafetensorsFile() {
  if (mapped_) ::munmap(const_cast<uint8_t*>(base_), size_);
  if (fd_ >= 0) ::close(fd_);
}

void SafetensorsFile::parse() {
  if (size_ < 8) throw InputError(source_, "header length", "file is " + std::to_string(size_) + " bytes, too short");
  uint64_t n = read_le64(base_);
  if (n > kMaxHeader) throw InputError(source_, "header length", std::to_string(n) + " exceeds the 100 MiB limit");
  if (n > size_ - 8)
    throw InputError(source_, "header length",
                     std::to_string(n) + " bytes beyond the end of the file (" + std::to_string(size_) + " bytes)");
  header_size_ = n;
  data_ = base_ + 8 + n;
  std::string_view header(reinterpret_cast<const char*>(base_ + 8), n);
  parse_safetensors_header(header, size_ - 8 - n, source_, tensors_, metadata_);
}

const TensorInfo* find_tensor(const std::vector<TensorInfo>& sorted, std::string_view name) {
  auto it = std::lower_bound(sorted.begin(), sorted.end(), name,
                             [](const TensorInfo& t, std::string_view n) { return t.name < n; });
  return it != sorted.end() && it->name == name ? &*it : nullptr;
}

bool SafetensorsFile::contains(std::string_view name) const { return find_tensor(tensors_, name) != nullptr; }

const TensorInfo& SafetensorsFile::info(std::string_view name) const {
  const TensorInfo* t = find_tensor(tensors_, name);
  if (!t) throw InputError(source_, "tensor '" + std::string(name) + "'", "not found");
  return *t;
}

void SafetensorsFile::read(const TensorInfo& t, void* dst) const {
  const uint64_t n = t.nbytes();
  if (fd_ < 0) {
    std::memcpy(dst, data(t), n);
    return;
  }
  // pread rather than a copy out of the mapping: no page-table work and nothing of the file stays in
  // this process's resident set, so loading one tensor costs about that tensor's memory.
  uint64_t off = 8 + header_size_ + t.begin, done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd_, static_cast<char*>(dst) + done, std::min<uint64_t>(n - done, 1ull << 30),
                        static_cast<off_t>(off + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) throw InputError(source_, "tensor '" + t.name + "'", r == 0 ? "file shrank while reading" : std::strerror(errno));
    done += static_cast<uint64_t>(r);
  }
}

void SafetensorsFile::read_as(const TensorInfo& t, DType to, void* dst) const {
  if (to == t.dtype) return read(t, dst);
  convert_dtype(data(t), t.dtype, dst, to, t.numel());
}

uint64_t safetensors_file_size(const std::vector<TensorInfo>& tensors, const Metadata& metadata) {
  std::vector<TensorInfo> laid = tensors;
  const uint64_t data = lay_out(laid);
  return 8 + header_json(laid, metadata).size() + data;
}

struct SafetensorsWriter::Impl {
  std::filesystem::path path;
  Metadata metadata;
  std::vector<TensorInfo> tensors;
  std::vector<uint8_t> written;
  bool laid_out = false;
  uint64_t data_start = 0;
  std::unique_ptr<AtomicFile> file;
  std::mutex mutex;
};

SafetensorsWriter::SafetensorsWriter(std::filesystem::path path, Metadata metadata) : impl_(new Impl) {
  impl_->path = std::move(path);
  impl_->metadata = std::move(metadata);
}

SafetensorsWriter::~SafetensorsWriter() = default;

void SafetensorsWriter::add(const std::string& name, DType dtype, const std::vector<int64_t>& shape) {
  if (impl_->laid_out) throw Error("SafetensorsWriter: add() after write()");
  if (name == "__metadata__") throw UsageError("tensor name '__metadata__' is reserved");
  for (const auto& t : impl_->tensors)
    if (t.name == name) throw UsageError(impl_->path.string() + ": duplicate tensor name '" + name + "'");
  TensorInfo t;
  t.name = name;
  t.dtype = dtype;
  t.shape = shape;
  impl_->tensors.push_back(std::move(t));
}

void SafetensorsWriter::finalize_layout() {
  if (impl_->laid_out) return;
  auto& ts = impl_->tensors;
  const uint64_t off = lay_out(ts);
  impl_->written.assign(ts.size(), 0);
  std::string h = header_json(ts, impl_->metadata);
  impl_->file = std::make_unique<AtomicFile>(impl_->path);
  uint8_t len[8];
  uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
  impl_->file->pwrite(len, 8, 0);
  impl_->file->pwrite(h.data(), h.size(), 8);
  impl_->data_start = 8 + n;
  if (off > 0 && ::ftruncate(impl_->file->fd(), static_cast<off_t>(impl_->data_start + off)) != 0)
    throw Error(impl_->path.string() + ": cannot size output: " + std::strerror(errno));
  impl_->laid_out = true;
}

const std::vector<TensorInfo>& SafetensorsWriter::layout() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  finalize_layout();
  return impl_->tensors;
}

void SafetensorsWriter::write(const std::string& name, const void* data) {
  size_t idx;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    finalize_layout();
    const TensorInfo* t = find_tensor(impl_->tensors, name);
    if (!t) throw Error("SafetensorsWriter: '" + name + "' was not declared");
    idx = static_cast<size_t>(t - impl_->tensors.data());
    if (impl_->written[idx]) throw Error("SafetensorsWriter: '" + name + "' written twice");
    impl_->written[idx] = 1;
  }
  const TensorInfo& t = impl_->tensors[idx];
  impl_->file->pwrite(data, t.nbytes(), impl_->data_start + t.begin);
  test_kill_point("PARAMKIT_TEST_KILL_AFTER_TENSOR", static_cast<long>(idx));
}

void SafetensorsWriter::commit() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  finalize_layout();
  for (size_t i = 0; i < impl_->tensors.size(); ++i)
    if (!impl_->written[i]) throw Error("SafetensorsWriter: '" + impl_->tensors[i].name + "' declared but not written");
  impl_->file->commit();
}

}  // namespace paramkit
