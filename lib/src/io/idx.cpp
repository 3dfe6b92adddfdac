// IDX arrays: magic 0x00 0x00 <type> <ndims>, big-endian int32 dims, big-endian data.
#include "paramkit/io/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "paramkit/core/error.h"
#include "paramkit/io/atomic_file.h"

namespace paramkit {
namespace {
constexpr size_t kMaxIdx = 8ull << 30;  // refuse to inflate beyond 8 GiB

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

bool type_code(uint8_t code, DType& t) {
  switch (code) {
    case 0x08: t = DType::U8; return true;
    case 0x09: t = DType::I8; return true;
    case 0x0B: t = DType::I16; return true;
    case 0x0C: t = DType::I32; return true;
    case 0x0D: t = DType::F32; return true;
    case 0x0E: t = DType::F64; return true;
  }
  return false;
}
}  // namespace

std::string gunzip(const uint8_t* bytes, size_t size, const std::string& source, size_t max_size) {
  z_stream zs;
  std::memset(&zs, 0, sizeof zs);
  if (inflateInit2(&zs, 15 + 32) != Z_OK) throw Error(source + ": zlib init failed");
  zs.next_in = const_cast<Bytef*>(bytes);
  zs.avail_in = static_cast<uInt>(size);
  std::string out;
  char buf[1 << 16];
  int rc;
  do {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      throw InputError(source, "gzip", std::string("corrupt compressed data") + (zs.msg ? std::string(": ") + zs.msg : ""));
    }
    out.append(buf, sizeof buf - zs.avail_out);
    if (out.size() > max_size) {
      inflateEnd(&zs);
      throw InputError(source, "gzip", "inflates beyond " + std::to_string(max_size) + " bytes");
    }
    if (rc != Z_STREAM_END && zs.avail_in == 0 && zs.avail_out != 0) {
      inflateEnd(&zs);
      throw InputError(source, "gzip", "truncated compressed data");
    }
  } while (rc != Z_STREAM_END);
  inflateEnd(&zs);
  return out;
}

IdxArray parse_idx(const uint8_t* b, size_t size, const std::string& source) {
  if (size < 4) throw InputError(source, "magic", "file too short for an IDX header");
  if (b[0] != 0 || b[1] != 0) throw InputError(source, "magic", "not an IDX file (first two bytes must be 0)");
  IdxArray a;
  if (!type_code(b[2], a.dtype)) throw InputError(source, "magic", "unknown IDX type code " + std::to_string(b[2]));
  int nd = b[3];
  if (nd == 0) throw InputError(source, "magic", "zero dimensions");
  if (size < 4 + 4ull * nd) throw InputError(source, "dims", "file too short for " + std::to_string(nd) + " dimensions");
  for (int i = 0; i < nd; ++i) a.dims.push_back(be32(b + 4 + 4 * i));
  uint64_t n;
  try {
    n = a.numel();
  } catch (const std::overflow_error&) {
    throw InputError(source, "dims", "element count overflows");
  }
  const size_t es = dtype_size(a.dtype);
  const uint64_t header = 4 + 4ull * nd;
  if (n > (UINT64_MAX - header) / es || header + n * es != size)
    throw InputError(source, "dims",
                     "dims " + shape_str(a.dims) + " need " + std::to_string(n * es) + " data bytes, the file has " +
                         std::to_string(size - header));
  a.data.assign(b + header, b + size);
  if (es > 1) {
    for (uint64_t i = 0; i < n; ++i) std::reverse(a.data.begin() + i * es, a.data.begin() + (i + 1) * es);
  }
  return a;
}

IdxArray read_idx(const std::filesystem::path& path) {
  std::string raw = read_file(path);
  const auto* p = reinterpret_cast<const uint8_t*>(raw.data());
  if (raw.size() >= 2 && p[0] == 0x1f && p[1] == 0x8b) {
    std::string inflated = gunzip(p, raw.size(), path.string(), kMaxIdx);
    return parse_idx(reinterpret_cast<const uint8_t*>(inflated.data()), inflated.size(), path.string());
  }
  return parse_idx(p, raw.size(), path.string());
}

void write_idx(const std::filesystem::path& path, const IdxArray& a) {
  uint8_t code = 0;
  switch (a.dtype) {
    case DType::U8: code = 0x08; break;
    case DType::I8: code = 0x09; break;
    case DType::I16: code = 0x0B; break;
    case DType::I32: code = 0x0C; break;
    case DType::F32: code = 0x0D; break;
    case DType::F64: code = 0x0E; break;
    default: throw UsageError(path.string() + ": IDX cannot hold " + std::string(dtype_name(a.dtype)));
  }
  std::string out = {0, 0, static_cast<char>(code), static_cast<char>(a.dims.size())};
  for (int64_t d : a.dims)
    for (int s = 24; s >= 0; s -= 8) out += static_cast<char>((d >> s) & 0xFF);
  const size_t es = dtype_size(a.dtype);
  std::string body(a.data.begin(), a.data.end());
  if (es > 1)
    for (size_t i = 0; i + es <= body.size(); i += es) std::reverse(body.begin() + i, body.begin() + i + es);
  write_file_atomic(path, out + body);
}

}  // namespace paramkit
