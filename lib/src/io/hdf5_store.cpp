// HDF5 tensor store: one group per module path component, one dataset per tensor, bit-exact dtypes
// (a "dtype" attribute keeps the safetensors name), metadata as root string attributes.
#include <algorithm>
#include <cstring>
#include <mutex>

#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/io/tensor_store.h"

#ifdef PARAMKIT_HAVE_HDF5
#include <hdf5.h>
#endif

namespace fs = std::filesystem;

namespace paramkit {

#ifndef PARAMKIT_HAVE_HDF5
bool have_hdf5() { return false; }
std::unique_ptr<TensorReader> open_h5(const fs::path& path) {
  throw UsageError(path.string() + ": this build of paramkit has no HDF5 support (PARAMKIT_WITH_HDF5=OFF)");
}
void write_h5(const fs::path& path, std::vector<TensorRecord>, const FillFn&, const Metadata&, int, int) {
  throw UsageError(path.string() + ": this build of paramkit has no HDF5 support (PARAMKIT_WITH_HDF5=OFF)");
}
#else
namespace {

constexpr uint64_t kSlabBytes = 16ull << 20;  // bytes read or written between stop checks

// The HDF5 library (as Debian builds it) is not thread-safe: every call that may run beside another
// thread (reads from fill threads, writes from the sink) holds this lock.
std::recursive_mutex& h5_mutex() {
  static std::recursive_mutex m;
  return m;
}

// Owns an HDF5 identifier.
class Hid {
 public:
  Hid() = default;
  Hid(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  Hid(Hid&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Hid& operator=(Hid&& o) noexcept {
    reset();
    id_ = o.id_;
    close_ = o.close_;
    o.id_ = -1;
    return *this;
  }
  ~Hid() { reset(); }
  void reset() {
    if (id_ >= 0 && close_) close_(id_);
    id_ = -1;
  }
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

void quiet_hdf5() {
  static bool done = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

Hid check(hid_t id, herr_t (*close)(hid_t), const std::string& file, const std::string& what) {
  if (id < 0) throw Error(file + ": HDF5: " + what);
  return Hid(id, close);
}

// The HDF5 type a dtype is stored as (bit-exact: memory type == file type).
Hid file_type(DType t) {
  auto copy = [](hid_t base) { return Hid(H5Tcopy(base), H5Tclose); };
  switch (t) {
    case DType::BOOL:
    case DType::U8:
    case DType::F8_E4M3:
    case DType::F8_E5M2: return copy(H5T_STD_U8LE);
    case DType::I8: return copy(H5T_STD_I8LE);
    case DType::U16: return copy(H5T_STD_U16LE);
    case DType::I16: return copy(H5T_STD_I16LE);
    case DType::U32: return copy(H5T_STD_U32LE);
    case DType::I32: return copy(H5T_STD_I32LE);
    case DType::U64: return copy(H5T_STD_U64LE);
    case DType::I64: return copy(H5T_STD_I64LE);
    case DType::F32: return copy(H5T_IEEE_F32LE);
    case DType::F64: return copy(H5T_IEEE_F64LE);
    case DType::F16:
    case DType::BF16: {
      // A 16-bit IEEE-style float as h5py defines float16; bfloat16 likewise with 8 exponent bits.
      Hid h = copy(H5T_IEEE_F32LE);
      bool bf = t == DType::BF16;
      H5Tset_fields(h.get(), 15, bf ? 7 : 10, bf ? 8 : 5, 0, bf ? 7 : 10);
      H5Tset_size(h.get(), 2);
      H5Tset_ebias(h.get(), bf ? 127 : 15);
      return h;
    }
  }
  return copy(H5T_STD_U8LE);
}

// Reads or writes a dataset in slabs along its first dimension (about `target` bytes each, whole
// chunks of `chunk_rows` rows) with check_io_stop() between them, so a stop request ends a large copy
// within one slab. op(mem_space, file_space, byte offset) performs one H5Dread/H5Dwrite.
template <class Op>
void by_slabs(hid_t ds, const std::vector<hsize_t>& dims, uint64_t nbytes, hsize_t chunk_rows, uint64_t target, Op op) {
  check_io_stop();
  if (dims.empty() || dims[0] <= 1 || nbytes <= target) return op(H5S_ALL, H5S_ALL, uint64_t{0});
  const uint64_t row = nbytes / dims[0];
  hsize_t rows = std::max<hsize_t>(1, static_cast<hsize_t>(target / std::max<uint64_t>(row, 1)));
  chunk_rows = std::max<hsize_t>(1, chunk_rows);
  rows = std::max(chunk_rows, rows / chunk_rows * chunk_rows);
  Hid fspace(H5Dget_space(ds), H5Sclose);
  for (hsize_t r0 = 0; r0 < dims[0]; r0 += rows) {
    if (r0 > 0) check_io_stop();
    std::vector<hsize_t> start(dims.size(), 0), count = dims;
    start[0] = r0;
    count[0] = std::min(rows, dims[0] - r0);
    H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
    Hid mspace(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr), H5Sclose);
    op(mspace.get(), fspace.get(), static_cast<uint64_t>(r0) * row);
  }
}

// Rows per storage chunk of a chunked dataset (1 for contiguous ones).
hsize_t chunk_rows_of(hid_t ds, int rank) {
  Hid dcpl(H5Dget_create_plist(ds), H5Pclose);
  if (rank <= 0 || H5Pget_layout(dcpl.get()) != H5D_CHUNKED) return 1;
  std::vector<hsize_t> chunk(rank);
  if (H5Pget_chunk(dcpl.get(), rank, chunk.data()) != rank) return 1;
  return chunk[0];
}

// Guess a dtype for a dataset written by someone else (no "dtype" attribute).
std::optional<DType> dtype_from_h5(hid_t type) {
  H5T_class_t cls = H5Tget_class(type);
  size_t size = H5Tget_size(type);
  if (cls == H5T_INTEGER) {
    bool sgn = H5Tget_sign(type) == H5T_SGN_2;
    switch (size) {
      case 1: return sgn ? DType::I8 : DType::U8;
      case 2: return sgn ? DType::I16 : DType::U16;
      case 4: return sgn ? DType::I32 : DType::U32;
      case 8: return sgn ? DType::I64 : DType::U64;
    }
  } else if (cls == H5T_FLOAT) {
    if (size == 4) return DType::F32;
    if (size == 8) return DType::F64;
    if (size == 2) return H5Tget_ebias(type) == 127 ? DType::BF16 : DType::F16;
  } else if (cls == H5T_ENUM && size == 1) {
    return DType::BOOL;  // h5py stores numpy bool as a 1-byte enum
  }
  return std::nullopt;
}

void write_string_attr(hid_t obj, const std::string& name, const std::string& value) {
  Hid type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), value.empty() ? 1 : value.size());
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  Hid space(H5Screate(H5S_SCALAR), H5Sclose);
  Hid attr(H5Acreate2(obj, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!attr.ok()) throw Error("HDF5: cannot create attribute '" + name + "'");
  std::string v = value.empty() ? std::string(1, '\0') : value;
  if (H5Awrite(attr.get(), type.get(), v.data()) < 0) throw Error("HDF5: cannot write attribute '" + name + "'");
}

std::optional<std::string> read_string_attr(hid_t obj, const char* name) {
  if (H5Aexists(obj, name) <= 0) return std::nullopt;
  Hid attr(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
  if (!attr.ok()) return std::nullopt;
  Hid type(H5Aget_type(attr.get()), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_STRING) return std::nullopt;
  if (H5Tis_variable_str(type.get()) > 0) {
    char* p = nullptr;
    Hid mem(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mem.get(), H5T_VARIABLE);
    if (H5Aread(attr.get(), mem.get(), &p) < 0 || !p) return std::nullopt;
    std::string s(p);
    Hid space(H5Aget_space(attr.get()), H5Sclose);
    H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, &p);
    return s;
  }
  size_t n = H5Tget_size(type.get());
  std::string s(n, '\0');
  if (H5Aread(attr.get(), type.get(), s.data()) < 0) return std::nullopt;
  s.resize(std::strlen(s.c_str()));
  return s;
}

class H5Reader : public TensorReader {
 public:
  explicit H5Reader(const fs::path& path) : source_(path.string()) {
    quiet_hdf5();
    if (H5Fis_hdf5(path.c_str()) <= 0) throw InputError(source_, "", "not an HDF5 file");
    file_ = Hid(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    if (!file_.ok()) throw InputError(source_, "", "cannot open as HDF5");
    // Root string attributes are the metadata.
    Hid root(H5Gopen2(file_.get(), "/", H5P_DEFAULT), H5Gclose);
    H5O_info_t oinfo;
    if (H5Oget_info(root.get(), &oinfo) >= 0) {
      for (hsize_t i = 0; i < oinfo.num_attrs; ++i) {
        char name[1024];
        if (H5Aget_name_by_idx(root.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT) < 0)
          continue;
        if (auto v = read_string_attr(root.get(), name)) metadata_[name] = *v;
      }
    }
    if (H5Ovisit(file_.get(), H5_INDEX_NAME, H5_ITER_INC, &H5Reader::visit, this) < 0)
      throw InputError(source_, "", "cannot list datasets" + (error_.empty() ? "" : ": " + error_));
    if (!error_.empty()) throw InputError(source_, "", error_);
    std::sort(tensors_.begin(), tensors_.end(), [](auto& a, auto& b) { return a.name < b.name; });
  }

  const std::string& source() const override { return source_; }
  StoreFormat format() const override { return StoreFormat::hdf5; }
  const std::vector<TensorInfo>& tensors() const override { return tensors_; }
  const Metadata& metadata() const override { return metadata_; }
  std::vector<fs::path> files() const override { return {source_}; }

  void read(const TensorInfo& t, void* dst) const override {
    std::lock_guard<std::recursive_mutex> lock(h5_mutex());
    std::string path = "/" + t.name;
    std::replace(path.begin(), path.end(), '.', '/');
    auto it = paths_.find(t.name);
    if (it != paths_.end()) path = it->second;
    Hid ds(H5Dopen2(file_.get(), path.c_str(), H5P_DEFAULT), H5Dclose);
    if (!ds.ok()) throw InputError(source_, "dataset '" + path + "'", "cannot open");
    if (t.nbytes() == 0) return;
    Hid ftype(H5Dget_type(ds.get()), H5Tclose);
    Hid mtype = file_type(t.dtype);
    if (H5Tget_class(ftype.get()) == H5T_ENUM) mtype = Hid(H5Tcopy(ftype.get()), H5Tclose);
    const std::vector<hsize_t> dims(t.shape.begin(), t.shape.end());
    by_slabs(ds.get(), dims, t.nbytes(), chunk_rows_of(ds.get(), static_cast<int>(dims.size())), kSlabBytes,
             [&](hid_t mem, hid_t file, uint64_t offset) {
               if (H5Dread(ds.get(), mtype.get(), mem, file, H5P_DEFAULT, static_cast<uint8_t*>(dst) + offset) < 0)
                 throw InputError(source_, "dataset '" + path + "'", "read failed (corrupt data or unsupported type)");
             });
  }

 private:
  static herr_t visit(hid_t obj, const char* name, const H5O_info_t* info, void* self_) {
    auto* self = static_cast<H5Reader*>(self_);
    if (info->type != H5O_TYPE_DATASET) return 0;
    Hid ds(H5Dopen2(obj, name, H5P_DEFAULT), H5Dclose);
    if (!ds.ok()) return 0;
    TensorInfo t;
    t.name = name;
    std::replace(t.name.begin(), t.name.end(), '/', '.');
    Hid type(H5Dget_type(ds.get()), H5Tclose);
    std::optional<DType> dt;
    if (auto a = read_string_attr(ds.get(), "dtype")) dt = parse_dtype(*a);
    if (!dt) dt = dtype_from_h5(type.get());
    if (!dt) {
      self->error_ = std::string("dataset '") + name + "': unsupported element type";
      return -1;
    }
    if (H5Tget_size(type.get()) != dtype_size(*dt)) {
      self->error_ = std::string("dataset '") + name + "': dtype attribute does not match the stored type";
      return -1;
    }
    t.dtype = *dt;
    Hid space(H5Dget_space(ds.get()), H5Sclose);
    int rank = H5Sget_simple_extent_ndims(space.get());
    if (rank < 0) {
      self->error_ = std::string("dataset '") + name + "': bad dataspace";
      return -1;
    }
    std::vector<hsize_t> dims(rank);
    H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    for (auto d : dims) t.shape.push_back(static_cast<int64_t>(d));
    self->paths_[t.name] = std::string("/") + name;
    self->tensors_.push_back(std::move(t));
    return 0;
  }

  std::string source_;
  Hid file_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> paths_;
  Metadata metadata_;
  std::string error_;
};

}  // namespace

bool have_hdf5() { return true; }

std::unique_ptr<TensorReader> open_h5(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw InputError(path.string(), "", "is a folder, not an HDF5 file");
  return std::make_unique<H5Reader>(path);
}

void write_h5(const fs::path& path, std::vector<TensorRecord> records, const FillFn& fill, const Metadata& metadata,
              int compression, int fill_threads) {
  quiet_hdf5();
  if (compression < 0 || compression > 9) throw UsageError("HDF5 compression level must be 0-9");
  std::sort(records.begin(), records.end(), [](auto& a, auto& b) { return a.name < b.name; });
  AtomicFile out(path);
  const std::string tmp = out.temp_path().string();
  {
    // Deterministic bytes: no object timestamps.
    Hid fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
    Hid file = check(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, fcpl.get(), H5P_DEFAULT), H5Fclose, path.string(), "cannot create");
    Hid gcpl(H5Pcreate(H5P_GROUP_CREATE), H5Pclose);
    H5Pset_obj_track_times(gcpl.get(), false);
    Hid lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
    H5Pset_create_intermediate_group(lcpl.get(), 1);
    H5Pset_char_encoding(lcpl.get(), H5T_CSET_UTF8);
    for (const auto& [k, v] : metadata) write_string_attr(file.get(), k, v);
    fill_in_order(records, fill, fill_threads, [&](size_t index, const uint8_t* bytes) {
      std::lock_guard<std::recursive_mutex> lock(h5_mutex());
      const TensorRecord& r = records[index];
      std::string p = "/" + r.name;
      std::replace(p.begin(), p.end(), '.', '/');
      // Create the parent groups ourselves so they carry no timestamps either.
      for (size_t pos = p.find('/', 1); pos != std::string::npos; pos = p.find('/', pos + 1)) {
        std::string g = p.substr(0, pos);
        htri_t ex = H5Lexists(file.get(), g.c_str(), H5P_DEFAULT);
        if (ex > 0) {
          H5O_info_t oi;
          if (H5Oget_info_by_name(file.get(), g.c_str(), &oi, H5P_DEFAULT) < 0 || oi.type != H5O_TYPE_GROUP)
            throw UsageError(path.string() + ": tensor '" + r.name + "' needs '" + g + "' to be a group, but it is a tensor");
          continue;
        }
        Hid grp(H5Gcreate2(file.get(), g.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT), H5Gclose);
        if (!grp.ok()) throw Error(path.string() + ": HDF5: cannot create group '" + g + "'");
      }
      if (H5Lexists(file.get(), p.c_str(), H5P_DEFAULT) > 0)
        throw UsageError(path.string() + ": tensor '" + r.name + "' collides with a group of the same path");
      std::vector<hsize_t> dims(r.shape.begin(), r.shape.end());
      Hid space = r.shape.empty() ? Hid(H5Screate(H5S_SCALAR), H5Sclose)
                                  : Hid(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
      Hid dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
      H5Pset_obj_track_times(dcpl.get(), false);
      uint64_t n = r.nbytes();
      if (compression > 0 && n > 0 && !dims.empty()) {
        std::vector<hsize_t> chunk = dims;
        uint64_t row = n / dims[0];
        chunk[0] = std::max<hsize_t>(1, std::min<hsize_t>(dims[0], (1u << 20) / std::max<uint64_t>(row, 1)));
        H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data());
        H5Pset_shuffle(dcpl.get());
        H5Pset_deflate(dcpl.get(), static_cast<unsigned>(compression));
      }
      Hid type = file_type(r.dtype);
      Hid ds(H5Dcreate2(file.get(), p.c_str(), type.get(), space.get(), lcpl.get(), dcpl.get(), H5P_DEFAULT), H5Dclose);
      if (!ds.ok()) throw Error(path.string() + ": HDF5: cannot create dataset '" + p + "'");
      write_string_attr(ds.get(), "dtype", std::string(dtype_name(r.dtype)));
      if (n > 0) {
        // Compressed slabs cost far more time per byte: smaller slabs keep a stop request prompt.
        const hsize_t chunk_rows = chunk_rows_of(ds.get(), static_cast<int>(dims.size()));
        by_slabs(ds.get(), dims, n, chunk_rows, compression > 0 ? kSlabBytes / 8 : kSlabBytes,
                 [&](hid_t mem, hid_t file, uint64_t offset) {
                   if (H5Dwrite(ds.get(), type.get(), mem, file, H5P_DEFAULT, bytes + offset) < 0)
                     throw Error(path.string() + ": HDF5: cannot write dataset '" + p + "'");
                 });
      }
    });
    if (H5Fflush(file.get(), H5F_SCOPE_GLOBAL) < 0) throw Error(path.string() + ": HDF5: flush failed");
  }
  check_io_stop();
  out.commit();
}
#endif

}  // namespace paramkit
