// IDX arrays (the MNIST format), plain or gzipped, validated against the file size.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "paramkit/io/dtype.h"

namespace paramkit {

struct IdxArray {
  DType dtype = DType::U8;
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;  // host byte order, C order
  uint64_t numel() const { return shape_numel(dims); }
};

IdxArray parse_idx(const uint8_t* bytes, size_t size, const std::string& source);
// Reads IDX, gunzipping when the file starts with the gzip magic.
IdxArray read_idx(const std::filesystem::path& path);
void write_idx(const std::filesystem::path& path, const IdxArray& array);  // atomic, uncompressed
// gunzip (for gzipped inputs); InputError naming the source when corrupt.
std::string gunzip(const uint8_t* bytes, size_t size, const std::string& source, size_t max_size);

}  // namespace paramkit
