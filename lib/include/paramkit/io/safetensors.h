// safetensors: lazy, validated reading through mmap and deterministic writing (tensors sorted by name,
// header padded to 8 bytes, __metadata__), positional so tensors can be written in any order/thread.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "paramkit/io/dtype.h"

namespace paramkit {

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte offsets in the data section (safetensors only)
  uint64_t numel() const { return shape_numel(shape); }
  uint64_t nbytes() const { return numel() * dtype_size(dtype); }
};

using Metadata = std::map<std::string, std::string>;

// Long tensor copies (SafetensorsFile::read/read_as, the writers of tensor_store.h, HDF5 reads and
// writes) made while an InterruptibleIo lives anywhere in the process check for SIGINT/SIGTERM between
// chunks of a few tens of MB and throw Interrupted (exit 130). Outside such a scope they never stop,
// so a checkpoint written after a stop request still completes.
class InterruptibleIo {
 public:
  InterruptibleIo();
  ~InterruptibleIo();
  InterruptibleIo(const InterruptibleIo&) = delete;
  InterruptibleIo& operator=(const InterruptibleIo&) = delete;
};
// check_stop() while an InterruptibleIo lives, nothing otherwise.
void check_io_stop();
// convert_dtype in chunks, with check_io_stop() between them.
void convert_dtype_chunked(const void* src, DType from, void* dst, DType to, uint64_t count);

// The tensor named `name` in a list sorted by name, or nullptr.
const TensorInfo* find_tensor(const std::vector<TensorInfo>& sorted, std::string_view name);

// Parses and validates a header (the JSON text) against a data section of data_size bytes with every
// rule of the format (see safetensors.cpp); `source` names the file in errors (InputError). Exposed
// for fuzzing and tests.
void parse_safetensors_header(std::string_view header, uint64_t data_size, const std::string& source,
                              std::vector<TensorInfo>& tensors, Metadata& metadata);

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);
  // Validates an in-memory buffer (for fuzzing/tests); the buffer must outlive the object.
  SafetensorsFile(const uint8_t* data, size_t size, std::string source);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& source() const { return source_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // sorted by name
  const Metadata& metadata() const { return metadata_; }
  bool contains(std::string_view name) const;
  const TensorInfo& info(std::string_view name) const;  // InputError when absent
  uint64_t header_size() const { return header_size_; }
  uint64_t file_size() const { return size_; }
  // Whether views of the mapping may be written (private copy-on-write pages); false when only a
  // read-only mapping could be made (strict overcommit), or for in-memory buffers.
  bool writable() const { return writable_; }

  // Zero-copy pointer into the private (copy-on-write) mapping: little-endian bytes, aligned only as
  // the file's offsets make them. Pages load on first touch.
  const uint8_t* data(const TensorInfo& t) const { return data_ + t.begin; }
  // Copies the tensor's bytes to dst (nbytes) with pread, so the process holds the copy only.
  void read(const TensorInfo& t, void* dst) const;
  // Copies converting to dtype `to` (numel elements at dst).
  void read_as(const TensorInfo& t, DType to, void* dst) const;

 private:
  void parse();
  std::string source_;
  int fd_ = -1;
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  const uint8_t* data_ = nullptr;
  uint64_t header_size_ = 0;
  bool mapped_ = false;
  bool writable_ = false;
  std::vector<TensorInfo> tensors_;
  Metadata metadata_;
};

class SafetensorsWriter {
 public:
  SafetensorsWriter(std::filesystem::path path, Metadata metadata = {});
  ~SafetensorsWriter();
  // Declare every tensor first (any order; the file holds them sorted by name).
  void add(const std::string& name, DType dtype, const std::vector<int64_t>& shape);
  // Then write each one's nbytes bytes (any order, any thread).
  void write(const std::string& name, const void* data);
  // Every declared tensor must have been written.
  void commit();
  const std::vector<TensorInfo>& layout();

 private:
  void finalize_layout();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Total bytes a file with these tensors would take (header + data).
uint64_t safetensors_file_size(const std::vector<TensorInfo>& tensors, const Metadata& metadata);

}  // namespace paramkit
