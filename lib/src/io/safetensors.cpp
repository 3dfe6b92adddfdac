// safetensors reading (mmap, validated like the reference implementation) and writing.
#include "paramkit/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
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
constexpr uint64_t kMaxHeader = 100000000;  // the reference reader's MAX_HEADER_SIZE (100 MB)
constexpr uint64_t kIoChunk = 64ull << 20;    // bytes copied between stop checks
constexpr uint64_t kConvertChunk = 8ull << 20;  // elements converted between stop checks
std::atomic<int> g_interruptible{0};

// Offset of the first byte that is not part of valid UTF-8, or npos.
size_t invalid_utf8_at(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07;
    } else {
      return i;
    }
    if (i + len > n) return i;
    for (size_t k = 1; k < len; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (d & 0x3F);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return i;
    i += len;
  }
  return std::string_view::npos;
}

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

InterruptibleIo::InterruptibleIo() { g_interruptible.fetch_add(1); }
InterruptibleIo::~InterruptibleIo() { g_interruptible.fetch_sub(1); }

void check_io_stop() {
  if (g_interruptible.load(std::memory_order_relaxed) > 0) check_stop();
}

// The rules of the format (https://github.com/huggingface/safetensors, README "Format" and the
// reference reader's Metadata::validate), each refused with a message naming the file and the field:
// UTF-8 JSON object; "__metadata__" a string -> string map (or null); every other key a tensor
// {dtype known, shape of non-negative integers, data_offsets [begin, end] with begin <= end}; element
// count x dtype size without overflow and equal to end - begin; in offset order the tensors start at
// 0, each begins where the previous ends (no hole, no overlap) and the last ends at the end of the data
// section (the buffer is entirely indexed, which rules out polyglot files). Duplicate keys are refused.
// JSON whitespace around the object is allowed (the reference reader accepts it and writers pad with it).
void parse_safetensors_header(std::string_view header, uint64_t data_size, const std::string& source,
                              std::vector<TensorInfo>& tensors, Metadata& metadata) {
  tensors.clear();
  metadata.clear();
  const size_t bad = invalid_utf8_at(header);
  if (bad != std::string_view::npos)
    throw InputError(source, "header", "not valid UTF-8 (byte " + std::to_string(bad) + " of the header)");
  nlohmann::json h = parse_json(header, source + ": header");
  if (!h.is_object()) throw InputError(source, "header", "expected a JSON object");
  for (auto it = h.begin(); it != h.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      if (v.is_null()) continue;  // serde's Option: the reference reads null as no metadata
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
    if (n > UINT64_MAX / dtype_size(t.dtype))
      throw InputError(source, field + ".shape", "byte count of " + shape_str(t.shape) + " overflows");
    if (n * dtype_size(t.dtype) != t.end - t.begin)
      throw InputError(source, field,
                       "shape " + shape_str(t.shape) + " of " + std::string(dtype_name(t.dtype)) + " needs " +
                           std::to_string(n * dtype_size(t.dtype)) + " bytes, data_offsets give " +
                           std::to_string(t.end - t.begin));
    tensors.push_back(std::move(t));
  }
  // In offset order the tensors tile the data section exactly: no hole, no overlap, nothing after.
  std::vector<const TensorInfo*> by_offset;
  for (const auto& t : tensors) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](auto* a, auto* b) { return a->begin != b->begin ? a->begin < b->begin : a->end < b->end; });
  uint64_t covered = 0;
  const TensorInfo* prev = nullptr;
  auto range = [](uint64_t a, uint64_t b) { return "bytes " + std::to_string(a) + "-" + std::to_string(b); };
  for (const TensorInfo* t : by_offset) {
    if (t->begin > covered)
      throw InputError(source, "data_offsets",
                       range(covered, t->begin) + " of the data section are indexed by no tensor (a gap " +
                           (prev ? "between tensor '" + prev->name + "' and " : "before ") + "tensor '" + t->name +
                           "'); the format requires the data to be entirely indexed");
    if (t->begin < covered)
      throw InputError(source, "tensor '" + t->name + "'",
                       "data " + range(t->begin, t->end) + " overlaps tensor '" + prev->name + "' (" +
                           range(prev->begin, prev->end) + ")");
    covered = t->end;
    prev = t;
  }
  if (covered != data_size)
    throw InputError(source, "data_offsets",
                     range(covered, data_size) + " at the end of the data section are indexed by no tensor; the "
                     "format requires the data to be entirely indexed");
  std::sort(tensors.begin(), tensors.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : source_(path.string()) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw InputError(source_, "", std::string("cannot open: ") + std::strerror(errno));
  struct stat st;
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd_);
    throw InputError(source_, "", S_ISDIR(st.st_mode) ? "is a folder, not a safetensors file" : "not a regular file");
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
  if (n > kMaxHeader)
    throw InputError(source_, "header length",
                     std::to_string(n) + " bytes exceeds the format's limit of 100000000 bytes (100 MB)");
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
  if (n == 0) return;  // dst may be null for an empty tensor (found by fuzzing)
  if (fd_ < 0) {
    std::memcpy(dst, data(t), n);
    return;
  }
  // pread rather than a copy out of the mapping: no page-table work and nothing of the file stays in
  // this process's resident set, so loading one tensor costs about that tensor's memory.
  uint64_t off = 8 + header_size_ + t.begin, done = 0;
  while (done < n) {
    check_io_stop();
    ssize_t r = ::pread(fd_, static_cast<char*>(dst) + done, std::min<uint64_t>(n - done, kIoChunk),
                        static_cast<off_t>(off + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) throw InputError(source_, "tensor '" + t.name + "'", r == 0 ? "file shrank while reading" : std::strerror(errno));
    done += static_cast<uint64_t>(r);
  }
}

void SafetensorsFile::read_as(const TensorInfo& t, DType to, void* dst) const {
  if (to == t.dtype) return read(t, dst);
  convert_dtype_chunked(data(t), t.dtype, dst, to, t.numel());
}

void convert_dtype_chunked(const void* src, DType from, void* dst, DType to, uint64_t count) {
  const size_t fs = dtype_size(from), ts = dtype_size(to);
  for (uint64_t s = 0; s < count; s += kConvertChunk) {
    check_io_stop();
    const uint64_t m = std::min(kConvertChunk, count - s);
    convert_dtype(static_cast<const uint8_t*>(src) + s * fs, from, static_cast<uint8_t*>(dst) + s * ts, to, m);
  }
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
  // The reader refuses headers that are not UTF-8: never write one.
  for (const auto& [k, v] : metadata)
    if (invalid_utf8_at(k) != std::string_view::npos || invalid_utf8_at(v) != std::string_view::npos)
      throw UsageError(impl_->path.string() + ": metadata '" + k + "' is not valid UTF-8");
  impl_->metadata = std::move(metadata);
}

SafetensorsWriter::~SafetensorsWriter() = default;

void SafetensorsWriter::add(const std::string& name, DType dtype, const std::vector<int64_t>& shape) {
  if (impl_->laid_out) throw Error("SafetensorsWriter: add() after write()");
  if (name == "__metadata__") throw UsageError("tensor name '__metadata__' is reserved");
  if (invalid_utf8_at(name) != std::string_view::npos)
    throw UsageError(impl_->path.string() + ": tensor name '" + name + "' is not valid UTF-8");
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
  if (h.size() > kMaxHeader)
    throw UsageError(impl_->path.string() + ": the header would take " + std::to_string(h.size()) +
                     " bytes, beyond the format's limit of 100000000");
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
  const uint64_t n = t.nbytes();
  for (uint64_t done = 0; done < n; done += kIoChunk) {
    check_io_stop();
    impl_->file->pwrite(static_cast<const uint8_t*>(data) + done, std::min(kIoChunk, n - done),
                        impl_->data_start + t.begin + done);
  }
  test_kill_point("PARAMKIT_TEST_KILL_AFTER_TENSOR", static_cast<long>(idx));
}

void SafetensorsWriter::commit() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  finalize_layout();
  for (size_t i = 0; i < impl_->tensors.size(); ++i)
    if (!impl_->written[i]) throw Error("SafetensorsWriter: '" + impl_->tensors[i].name + "' declared but not written");
  check_io_stop();
  impl_->file->commit();
}

}  // namespace paramkit
