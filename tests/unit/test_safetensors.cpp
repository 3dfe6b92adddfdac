// safetensors: bit-exact round trips for every dtype, deterministic bytes, and every malformed input
// rejected with an InputError that names the field.
#include <doctest/doctest.h>

#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "helpers.h"
#include "paramkit/core/error.h"
#include "paramkit/io/safetensors.h"
#include "paramkit/io/tensor_store.h"

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
  CHECK(error_of(huge).find("limit of 100000000 bytes") != std::string::npos);
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
  CHECK(error_of(raw_file("{\"\xff\xfe\":{}}", data8)).find("not valid UTF-8") != std::string::npos);
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

namespace {
std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(n >> (8 * i));
  return s;
}

// One malformed file per rule of the format (huggingface/safetensors README "Format" and the
// reference reader's read_metadata / Metadata::validate), with the words its message must contain.
// Each is also in tests/fuzz/corpus/safetensors/reject-<name>.safetensors (regression inputs).
struct Rule {
  const char* name;
  std::string bytes;
  const char* message;
};

std::vector<Rule> format_rules() {
  const std::string d8(8, '\x01'), d16(16, '\x02'), d24(24, '\x03');
  auto t = [](const std::string& name, const std::string& body) { return "\"" + name + "\":" + body; };
  const std::string a8 = t("a", R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})");
  return {
      {"file-too-short", "abcdefg", "too short"},
      {"header-length-over-limit", le64(100000001) + "{}", "limit of 100000000 bytes"},
      {"header-length-beyond-file", le64(999) + "{}", "beyond the end of the file"},
      {"header-not-utf8", raw_file("{\"\xc3\x28\":1}", ""), "not valid UTF-8"},
      {"header-overlong-utf8", raw_file("{\"\xc0\xaf\":1}", ""), "not valid UTF-8"},
      {"header-not-json", raw_file(R"({"a":{"dtype":)", ""), "invalid JSON"},
      {"header-empty", raw_file("", ""), "invalid JSON"},
      {"header-nul-padding", raw_file(std::string("{}\0\0\0\0\0\0", 8), ""), "NUL byte"},
      {"header-garbage-before-object", raw_file("x{}", ""), "invalid JSON"},
      {"header-trailing-garbage", raw_file("{} x", ""), "invalid JSON"},
      {"header-not-object", raw_file("[1,2]", ""), "expected a JSON object"},
      {"duplicate-tensor-name", raw_file("{" + a8 + "," + a8 + "}", d8), "duplicate key"},
      {"metadata-not-object", raw_file(R"({"__metadata__":["k","v"]})", ""), "__metadata__: expected an object of strings"},
      {"metadata-value-not-string", raw_file(R"({"__metadata__":{"k":1}})", ""), "__metadata__.k: expected a string"},
      {"metadata-nested-object", raw_file(R"({"__metadata__":{"k":{"x":"y"}}})", ""), "__metadata__.k: expected a string"},
      {"tensor-not-object", raw_file(R"({"a":[0,8]})", d8), "tensor 'a': expected an object"},
      {"dtype-missing", raw_file(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", d8), "tensor 'a'.dtype: missing"},
      {"dtype-unknown", raw_file(R"({"a":{"dtype":"F31","shape":[2],"data_offsets":[0,8]}})", d8), "unknown dtype 'F31'"},
      {"shape-missing", raw_file(R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", d8), "tensor 'a'.shape: missing"},
      {"shape-negative", raw_file(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", d8), "non-negative integers"},
      {"shape-fraction", raw_file(R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", d8), "non-negative integers"},
      {"offsets-missing", raw_file(R"({"a":{"dtype":"F32","shape":[2]}})", d8), "tensor 'a'.data_offsets"},
      {"offsets-one-number", raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", d8), "[begin, end]"},
      {"offsets-three-numbers", raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}})", d8), "[begin, end]"},
      {"offsets-negative", raw_file(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[-8,0]}})", d8), "[begin, end]"},
      {"offsets-begin-after-end", raw_file(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", d8), "begin after end"},
      {"offsets-beyond-data", raw_file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", d8), "beyond the data section"},
      {"shape-bytes-mismatch", raw_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", d8), "needs 12 bytes, data_offsets give 8"},
      {"element-count-overflow",
       raw_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}})", d8),
       "element count overflows"},
      {"byte-count-overflow", raw_file(R"({"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,8]}})", d8),
       "byte count of [4611686018427387904] overflows"},
      // The buffer must be entirely indexed, without holes (no polyglot files) and without overlaps.
      {"gap-between-tensors",
       raw_file(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}})", d24),
       "bytes 8-16 of the data section are indexed by no tensor (a gap between tensor 'x' and tensor 'y')"},
      {"gap-at-start", raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", d16),
       "bytes 0-8 of the data section are indexed by no tensor (a gap before tensor 'a')"},
      {"bytes-after-last-tensor", raw_file("{" + a8 + "}", d16), "bytes 8-16 at the end of the data section are indexed by no tensor"},
      {"data-without-tensors", raw_file("{}", d8), "bytes 0-8 at the end of the data section"},
      {"overlapping-tensors",
       raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", d8),
       "tensor 'b': data bytes 4-8 overlaps tensor 'a' (bytes 0-8)"},
      {"same-offsets-twice",
       raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", d16),
       "overlaps tensor 'a'"},
      {"empty-tensor-inside-another",
       raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})", d8),
       "tensor 'e': data bytes 4-4 overlaps tensor 'a' (bytes 0-8)"},
  };
}

std::filesystem::path corpus_dir() { return std::filesystem::path(PARAMKIT_TEST_DATA) / ".." / "fuzz" / "corpus" / "safetensors"; }
}  // namespace

TEST_CASE("every rule of the format: one malformed file each, refused with a message naming the rule") {
  for (const auto& r : format_rules()) {
    const std::string rule = r.name;
    CAPTURE(rule);
    const std::string e = error_of(r.bytes);
    CHECK_MESSAGE(e.find(r.message) != std::string::npos, e);
    CHECK(e.rfind("bad.safetensors", 0) == 0);  // names the file
  }
}

TEST_CASE("what the format allows is accepted") {
  const std::string d8(8, '\x01');
  const std::string a8 = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  // Padding with spaces (what writers do), JSON whitespace before the object (the reference accepts it).
  CHECK(error_of(raw_file("{" + a8 + "}      ", d8)).empty());
  CHECK(error_of(raw_file("\n\t {" + a8 + "}\r\n", d8)).empty());
  // No tensors at all, null metadata, fields the format does not define.
  CHECK(error_of(raw_file("{}", "")).empty());
  CHECK(error_of(raw_file(R"({"__metadata__":null})", "")).empty());
  CHECK(error_of(raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"note":"x"}})", d8)).empty());
  // Offsets need not follow name order; empty tensors sit at any boundary, also the end; scalars.
  CHECK(error_of(raw_file(R"({"b":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"a":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})", d8)).empty());
  CHECK(error_of(raw_file(R"({"e":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"z":{"dtype":"I64","shape":[3,0],"data_offsets":[8,8]}})", d8)).empty());
  CHECK(error_of(raw_file(R"({"s":{"dtype":"F64","shape":[],"data_offsets":[0,8]}})", d8)).empty());
  // UTF-8 tensor names and metadata.
  CHECK(error_of(raw_file("{\"__metadata__\":{\"n\xc3\xa4me\":\"\xe2\x82\xac\"},\"\xf0\x9f\x98\x80\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}", d8)).empty());
}

TEST_CASE("the fuzz corpus holds every malformed file as a regression input, and the reader refuses each") {
  const auto dir = corpus_dir();
  if (std::getenv("PARAMKIT_WRITE_CORPUS"))  // regenerate: PARAMKIT_WRITE_CORPUS=1 unit-io -tc='*fuzz corpus*'
    for (const auto& r : format_rules()) spit(dir / ("reject-" + std::string(r.name) + ".safetensors"), r.bytes);
  for (const auto& r : format_rules()) {
    const std::string rule = r.name;
    CAPTURE(rule);
    const auto f = dir / ("reject-" + std::string(r.name) + ".safetensors");
    REQUIRE(std::filesystem::exists(f));
    CHECK(slurp(f) == r.bytes);
  }
  int refused = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("reject-", 0) != 0) continue;
    CAPTURE(name);
    CHECK_THROWS_AS(SafetensorsFile f(e.path()), InputError);
    ++refused;
  }
  CHECK(refused == static_cast<int>(format_rules().size()));
}

TEST_CASE("the writers never write what the reader refuses (random tensors, single files and folders)") {
  auto dir = scratch("st-writer-valid");
  std::mt19937 g(11);
  const auto types = all_dtypes();
  for (int round = 0; round < 40; ++round) {
    CAPTURE(round);
    std::vector<TensorRecord> records;
    std::map<std::string, std::vector<uint8_t>> bytes;
    const int count = static_cast<int>(g() % 9);
    for (int i = 0; i < count; ++i) {
      TensorRecord r;
      r.name = (g() % 3 == 0 ? "\xc3\xa9t\xc3\xa9." : "layer.") + std::to_string(i) + (g() % 2 ? ".weight" : "");
      r.dtype = types[g() % types.size()];
      const int rank = static_cast<int>(g() % 4);
      for (int k = 0; k < rank; ++k) r.shape.push_back(static_cast<int64_t>(g() % 6));  // zeros too
      bytes[r.name] = random_bytes(r.nbytes(), g());
      records.push_back(r);
    }
    Metadata meta;
    if (g() % 2) meta["note \xe2\x82\xac"] = "value with \"quotes\" and \\ and \n";
    FillFn fill = [&](const TensorRecord& r, void* dst) {
      if (!bytes[r.name].empty()) std::memcpy(dst, bytes[r.name].data(), bytes[r.name].size());
    };
    const auto single = dir / ("r" + std::to_string(round) + ".safetensors");
    write_tensors(single, StoreFormat::safetensors, records, fill, meta);
    const auto folder = dir / ("r" + std::to_string(round));
    write_tensors(folder, StoreFormat::sharded, records, fill, meta, WriteOptions{static_cast<uint64_t>(1 + g() % 200)});
    for (const auto& path : {single, folder}) {
      CAPTURE(path.string());
      std::unique_ptr<TensorReader> r;
      REQUIRE_NOTHROW(r = open_tensors(path));
      REQUIRE(r->tensors().size() == records.size());
      for (const auto& t : r->tensors()) {
        std::vector<uint8_t> got(t.nbytes());
        r->read(t, got.data());
        CHECK(got == bytes.at(t.name));
      }
    }
  }
  // Names and metadata that are not UTF-8 would make a header the reader refuses: refused at write.
  CHECK_THROWS_AS(SafetensorsWriter(dir / "m.safetensors", {{"k", "\xff"}}), UsageError);
  SafetensorsWriter w(dir / "n.safetensors");
  CHECK_THROWS_AS(w.add("\xc3(", DType::F32, {1}), UsageError);
}
