// safetensors: bit-exact round trips for every dtype, deterministic bytes, and every malformed input
// rejected with an InputError that names the field.
#include <doctest/doctest.h>

#include <cstring>
#include <random>

#include "helpers.h"
#include "paramkit/core/error.h"
#include "paramkit/io/safetensors.h"

using namespace paramkit;
using paramkit::test::scratch;
using paramkit::test::slurp;
using paramkit::test::spit;

namespace {
std::string raw_file(const std::string& header, const std::string& data) {
  std::string s(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(n >> (8 * i));
  return s + header + data;
}

std::string error_of(const std::string& bytes) {
  try {
    SafetensorsFile f(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "bad.safetensors");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(g());
  return v;
}
}  // namespace

TEST_CASE("round trip of every dtype is bit-exact, file sorted and padded") {
  auto dir = scratch("st-roundtrip");
  std::map<std::string, std::vector<uint8_t>> payload;
  SafetensorsWriter w(dir / "all.safetensors", {{"note", "hello"}, {"provenance", "{}"}});
  int k = 0;
  // Declared in reverse name order to check sorting.
  auto types = all_dtypes();
  for (auto it = types.rbegin(); it != types.rend(); ++it, ++k) {
    std::string name = "t." + std::string(dtype_name(*it));
    std::vector<int64_t> shape = {3, 5};
    w.add(name, *it, shape);
    payload[name] = random_bytes(15 * dtype_size(*it), k);
  }
  w.add("empty", DType::F32, {0, 4});
  w.add("scalar", DType::F64, {});
  payload["empty"] = {};
  payload["scalar"] = random_bytes(8, 99);
  for (auto& [name, bytes] : payload) w.write(name, bytes.data());
  w.commit();

  SafetensorsFile f(dir / "all.safetensors");
  CHECK(f.header_size() % 8 == 0);
  CHECK(f.metadata().at("note") == "hello");
  REQUIRE(f.tensors().size() == payload.size());
  std::string prev;
  uint64_t prev_end = 0;
  for (const auto& t : f.tensors()) {
    CHECK(t.name > prev);
    CHECK(t.begin == prev_end);  // contiguous in name order
    prev = t.name;
    prev_end = t.end;
    const auto& want = payload.at(t.name);
    REQUIRE(t.nbytes() == want.size());
    std::vector<uint8_t> got(t.nbytes());
    f.read(t, got.data());
    CHECK(got == want);
    CHECK(std::memcmp(f.data(t), want.data(), want.size()) == 0);
  }
  CHECK(f.info("scalar").shape.empty());
  CHECK_THROWS_AS(f.info("nope"), InputError);
}

TEST_CASE("writing is deterministic whatever the declaration order") {
  auto dir = scratch("st-determinism");
  std::vector<float> a = {1, 2, 3}, b = {4, 5};
  {
    SafetensorsWriter w(dir / "x.safetensors", {{"k", "v"}});
    w.add("b", DType::F32, {2});
    w.add("a", DType::F32, {3});
    w.write("b", b.data());
    w.write("a", a.data());
    w.commit();
  }
  {
    SafetensorsWriter w(dir / "y.safetensors", {{"k", "v"}});
    w.add("a", DType::F32, {3});
    w.add("b", DType::F32, {2});
    w.write("a", a.data());
    w.write("b", b.data());
    w.commit();
  }
  std::string x = slurp(dir / "x.safetensors");
  CHECK(x == slurp(dir / "y.safetensors"));
  // The header as the format specifies it: 8-byte length, JSON, space padding to 8 bytes.
  std::string header =
      R"({"__metadata__":{"k":"v"},"a":{"data_offsets":[0,12],"dtype":"F32","shape":[3]},"b":{"data_offsets":[12,20],"dtype":"F32","shape":[2]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string data(reinterpret_cast<char*>(a.data()), 12);
  data += std::string(reinterpret_cast<char*>(b.data()), 8);
  CHECK(x == raw_file(header, data));
  CHECK(safetensors_file_size({{"a", DType::F32, {3}, 0, 0}, {"b", DType::F32, {2}, 0, 0}}, {{"k", "v"}}) == x.size());
}

TEST_CASE("read_as converts BF16/F16 to F32 on request") {
  auto dir = scratch("st-convert");
  std::vector<uint16_t> h = {f32_to_f16(1.5f), f32_to_f16(-0.25f)};
  std::vector<uint16_t> bf = {f32_to_bf16(3.0f), f32_to_bf16(-7.5f)};
  SafetensorsWriter w(dir / "h.safetensors");
  w.add("h", DType::F16, {2});
  w.add("bf", DType::BF16, {2});
  w.write("h", h.data());
  w.write("bf", bf.data());
  w.commit();
  SafetensorsFile f(dir / "h.safetensors");
  float out[2];
  f.read_as(f.info("h"), DType::F32, out);
  CHECK(out[0] == 1.5f);
  CHECK(out[1] == -0.25f);
  f.read_as(f.info("bf"), DType::F32, out);
  CHECK(out[0] == 3.0f);
  CHECK(out[1] == -7.5f);
}

TEST_CASE("writer refuses duplicates, reserved names and missing tensors") {
  auto dir = scratch("st-writer-errors");
  SafetensorsWriter w(dir / "x.safetensors");
  w.add("a", DType::F32, {1});
  CHECK_THROWS_AS(w.add("a", DType::F32, {1}), UsageError);
  CHECK_THROWS_AS(w.add("__metadata__", DType::F32, {1}), UsageError);
  CHECK_THROWS_AS(w.commit(), Error);
  CHECK_FALSE(std::filesystem::exists(dir / "x.safetensors"));
}

TEST_CASE("malformed files give InputError naming the field") {
  const std::string ok_entry = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::string data8(8, '\0');
  CHECK(error_of(raw_file("{" + ok_entry + "}", data8)).empty());

  CHECK(error_of("abc").find("too short") != std::string::npos);
  // Header length beyond the file.
  std::string longhdr = raw_file("{" + ok_entry + "}", data8);
  longhdr[0] = static_cast<char>(0xF0);
  CHECK(error_of(longhdr).find("beyond the end of the file") != std::string::npos);
  std::string huge = longhdr;
  huge[7] = 0x7F;
  CHECK(error_of(huge).find("100 MiB") != std::string::npos);
  // Truncated data section.
  CHECK(error_of(raw_file("{" + ok_entry + "}", "1234")).find("beyond the data section") != std::string::npos);
  // Out-of-range and reversed offsets.
  CHECK(error_of(raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", data8)).find("beyond") != std::string::npos);
  CHECK(error_of(raw_file(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", data8)).find("begin after end") != std::string::npos);
  // Overlapping tensors.
  CHECK(error_of(raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                          data8))
            .find("overlaps") != std::string::npos);
  // Unknown dtype, shape/byte mismatch, bad shapes.
  CHECK(error_of(raw_file(R"({"a":{"dtype":"F31","shape":[2],"data_offsets":[0,8]}})", data8)).find("unknown dtype 'F31'") != std::string::npos);
  CHECK(error_of(raw_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data8)).find("needs 12 bytes") != std::string::npos);
  CHECK(error_of(raw_file(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data8)).find("shape") != std::string::npos);
  CHECK(error_of(raw_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}})", data8))
            .find("overflows") != std::string::npos);
  CHECK(error_of(raw_file(R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", data8)).find("shape") != std::string::npos);
  CHECK(error_of(raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", data8)).find("data_offsets") != std::string::npos);
  // Duplicate names, bad JSON, bad UTF-8, wrong top-level types, non-string metadata.
  CHECK(error_of(raw_file("{" + ok_entry + "," + ok_entry + "}", data8)).find("duplicate key") != std::string::npos);
  CHECK(error_of(raw_file(R"({"a":{"dtype":"F32",)", data8)).find("invalid JSON") != std::string::npos);
  CHECK(error_of(raw_file("{\"\xff\xfe\":{}}", data8)).find("invalid JSON") != std::string::npos);
  CHECK(error_of(raw_file("[1,2]", data8)).find("expected a JSON object") != std::string::npos);
  CHECK(error_of(raw_file(R"({"__metadata__":{"k":1}})", "")).find("__metadata__.k") != std::string::npos);
  CHECK(error_of(raw_file(R"({"a":3})", "")).find("tensor 'a'") != std::string::npos);
  // The message names the file.
  CHECK(error_of(raw_file(R"({"a":3})", "")).rfind("bad.safetensors", 0) == 0);
}

TEST_CASE("files on disk: missing, empty and truncated") {
  auto dir = scratch("st-disk");
  CHECK_THROWS_AS(SafetensorsFile(dir / "missing.safetensors"), InputError);
  spit(dir / "empty.safetensors", "");
  CHECK_THROWS_AS(SafetensorsFile(dir / "empty.safetensors"), InputError);
  {
    std::vector<float> v(1000, 1.0f);
    SafetensorsWriter w(dir / "full.safetensors");
    w.add("v", DType::F32, {1000});
    w.write("v", v.data());
    w.commit();
  }
  std::string full = slurp(dir / "full.safetensors");
  spit(dir / "cut.safetensors", full.substr(0, full.size() - 100));
  try {
    SafetensorsFile f(dir / "cut.safetensors");
    FAIL("truncated file accepted");
  } catch (const InputError& e) {
    CHECK(std::string(e.what()).find("cut.safetensors") != std::string::npos);
  }
}
