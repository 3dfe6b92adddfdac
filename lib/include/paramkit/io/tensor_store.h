// One interface over every tensor container paramkit reads and writes: a single .safetensors file,
// a Hugging Face folder (single file or shards with model.safetensors.index.json), and HDF5 (.h5).
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "paramkit/io/safetensors.h"

namespace paramkit {

enum class StoreFormat { safetensors, sharded, hdf5 };

class TensorReader {
 public:
  virtual ~TensorReader() = default;
  virtual const std::string& source() const = 0;
  virtual StoreFormat format() const = 0;
  virtual const std::vector<TensorInfo>& tensors() const = 0;  // sorted by name
  virtual const Metadata& metadata() const = 0;
  virtual void read(const TensorInfo& t, void* dst) const = 0;  // t.nbytes() bytes, t.dtype
  // The files behind this reader (shards), for reporting.
  virtual std::vector<std::filesystem::path> files() const = 0;
  // Zero-copy bytes of a tensor when the store is memory-mapped copy-on-write (safetensors), else
  // nullptr. Valid while the reader lives; writes stay private to this process.
  virtual const uint8_t* mapped(const TensorInfo& t) const { return nullptr; }

  bool contains(const std::string& name) const;
  const TensorInfo& info(const std::string& name) const;
  void read_as(const TensorInfo& t, DType to, void* dst) const;
};

// Opens by what the path is: a folder (HF layout), *.h5/*.hdf5, otherwise safetensors.
std::unique_ptr<TensorReader> open_tensors(const std::filesystem::path& path);

// Output: records describe tensors; fill(record, dst) produces each one's bytes when it is written,
// so memory stays bounded by the largest tensor.
struct TensorRecord {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t nbytes() const { return shape_numel(shape) * dtype_size(dtype); }
};
using FillFn = std::function<void(const TensorRecord&, void* dst)>;

struct WriteOptions {
  uint64_t shard_size = 0;   // sharded: max bytes of tensor data per shard (0: 5 GB, HF's default)
  int compression = 0;       // hdf5: gzip level 0-9
  int fill_threads = 1;      // fill() calls run at once (each into its own buffer); fill must be thread-safe
  // sharded: a Hugging Face folder whose other files (config.json, tokenizer files...) become part
  // of the output, in the same atomic swap as the weights (see copy_hf_side_files).
  std::filesystem::path side_files_from;
  // SIGINT/SIGTERM stop the write between tensors and between chunks of a large one (Interrupted,
  // nothing left behind); for jobs whose output is the whole point (convert, merge), not checkpoints.
  bool interruptible = false;
};

struct WriteResult {
  std::vector<std::string> copied_files;  // side files taken from WriteOptions::side_files_from
};

// Calls fill for every record, up to `threads` at once, each into its own buffer, and hands the
// buffers to sink(index, bytes) in record order on the calling thread. At most threads + 1 buffers
// exist at a time (bounded memory). The first exception (from fill or sink) stops the others and is
// rethrown. threads <= 1: plain sequential calls.
void fill_in_order(const std::vector<TensorRecord>& records, const FillFn& fill, int threads,
                   const std::function<void(size_t, const uint8_t*)>& sink);

// Format from the path: folder-like (no extension or trailing '/') -> sharded, .h5/.hdf5 -> hdf5,
// otherwise safetensors.
StoreFormat format_for_path(const std::filesystem::path& path);
// Every output appears whole or not at all: files through AtomicFile, folders through AtomicFolder
// (built beside the target and swapped in; files of an existing folder other than its weights are kept).
// Missing parent folders are created.
WriteResult write_tensors(const std::filesystem::path& path, StoreFormat format, std::vector<TensorRecord> records,
                          const FillFn& fill, const Metadata& metadata, const WriteOptions& options = {});

// HF folder: model.safetensors, or shards model-0000i-of-0000n.safetensors plus
// model.safetensors.index.json, built in a temp folder and swapped in whole.
WriteResult write_sharded(const std::filesystem::path& dir, std::vector<TensorRecord> records, const FillFn& fill,
                          const Metadata& metadata, uint64_t shard_size, int fill_threads = 1,
                          const std::filesystem::path& side_files_from = {});
// Reads a Hugging Face folder, refusing (InputError naming the file) a shard set that is incomplete or
// disagrees with its index: a shard the index names missing, a tensor of the index absent from its
// shard or held by another one, a shard holding tensors the index does not list, an index naming only
// some members of a model-0000k-of-0000N series, such a series with members missing and no index, or
// shards whose "provenance" metadata differs from the index's (written by different runs).
std::unique_ptr<TensorReader> open_hf_folder(const std::filesystem::path& dir);
// Copies a Hugging Face folder's other files (config.json, tokenizer files, ...) atomically into `to`;
// nothing when `from` is not a folder or is `to`. Returns the names copied. (Files copied after a
// folder was written appear after it: prefer WriteOptions::side_files_from, which makes them part of it.)
std::vector<std::string> copy_hf_side_files(const std::filesystem::path& from, const std::filesystem::path& to);

// HDF5 store (one group per module path component, one dataset per tensor, metadata as JSON attributes).
bool have_hdf5();
std::unique_ptr<TensorReader> open_h5(const std::filesystem::path& path);
void write_h5(const std::filesystem::path& path, std::vector<TensorRecord> records, const FillFn& fill,
              const Metadata& metadata, int compression, int fill_threads = 1);

}  // namespace paramkit

namespace paramkit {
// "5GB", "500MB", "2GiB", "1048576": decimal (KB/MB/GB) or binary (KiB/MiB/GiB) units. UsageError otherwise.
uint64_t parse_size(const std::string& text, const std::string& flag);
}  // namespace paramkit
