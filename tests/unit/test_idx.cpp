// IDX: the gzipped MNIST fixture, every element type round trip, malformed headers.
#include <doctest/doctest.h>

#include <cstring>

#include "helpers.h"
#include "paramkit/core/error.h"
#include "paramkit/io/idx.h"

using namespace paramkit;

TEST_CASE("gzipped MNIST fixture") {
  IdxArray x = read_idx(paramkit::test::data_file("mnist-256-images-idx3-ubyte.gz"));
  CHECK(x.dtype == DType::U8);
  CHECK(x.dims == std::vector<int64_t>{256, 28, 28});
  IdxArray y = read_idx(paramkit::test::data_file("mnist-256-labels-idx1-ubyte.gz"));
  REQUIRE(y.dims == std::vector<int64_t>{256});
  // The first MNIST training labels, as published.
  std::vector<uint8_t> first(y.data.begin(), y.data.begin() + 10);
  CHECK(first == std::vector<uint8_t>{5, 0, 4, 1, 9, 2, 1, 3, 1, 4});
  // Image 0 (a 5): its pixel sum.
  uint64_t s = 0;
  for (int i = 0; i < 784; ++i) s += x.data[i];
  CHECK(s == 27525);
}

TEST_CASE("round trip of every IDX type with big-endian data") {
  auto dir = paramkit::test::scratch("idx");
  for (DType t : {DType::U8, DType::I8, DType::I16, DType::I32, DType::F32, DType::F64}) {
    IdxArray a;
    a.dtype = t;
    a.dims = {2, 3};
    a.data.resize(6 * dtype_size(t));
    for (size_t i = 0; i < a.data.size(); ++i) a.data[i] = static_cast<uint8_t>(i * 37 + 1);
    write_idx(dir / "a.idx", a);
    IdxArray b = read_idx(dir / "a.idx");
    CHECK(b.dtype == t);
    CHECK(b.dims == a.dims);
    CHECK(b.data == a.data);
  }
  IdxArray i32;
  i32.dtype = DType::I32;
  i32.dims = {1};
  int32_t v = 0x01020304;
  i32.data.resize(4);
  std::memcpy(i32.data.data(), &v, 4);
  write_idx(dir / "b.idx", i32);
  std::string raw = paramkit::test::slurp(dir / "b.idx");
  CHECK(raw.substr(8) == std::string("\x01\x02\x03\x04", 4));  // big-endian on disk
}

TEST_CASE("malformed IDX") {
  auto err = [](const std::string& bytes) {
    try {
      parse_idx(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "x.idx");
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(err(std::string("\x00\x00\x08\x01\x00\x00\x00\x02\x05\x06", 10)).empty());
  CHECK(err(std::string("\x01\x00\x08\x01", 4)).find("x.idx: magic: not an IDX file") != std::string::npos);
  CHECK(err(std::string("\x00\x00\x07\x01", 4)).find("unknown IDX type code 7") != std::string::npos);
  CHECK(err(std::string("\x00\x00\x08\x00", 4)).find("zero dimensions") != std::string::npos);
  CHECK(err(std::string("\x00\x00\x08\x02\x00\x00", 6)).find("too short") != std::string::npos);
  CHECK(err(std::string("\x00\x00\x08\x01\x00\x00\x00\x03\x05\x06", 10)).find("need 3 data bytes") != std::string::npos);
  CHECK(err(std::string("\x00\x00", 2)).find("too short") != std::string::npos);
  auto dir = paramkit::test::scratch("idx-bad");
  paramkit::test::spit(dir / "bad.gz", std::string("\x1f\x8b\x08\x00garbage", 11));
  CHECK_THROWS_WITH_AS(read_idx(dir / "bad.gz"), doctest::Contains("bad.gz: gzip"), InputError);
}
