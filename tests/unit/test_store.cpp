// Tensor stores: HF sharded folders (index written last, shard limit), HDF5 round trips, format dispatch.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <set>
#include <random>

#include "helpers.h"
#include "paramkit/core/error.h"
#include "paramkit/io/json.h"
#include "paramkit/io/tensor_store.h"

using namespace paramkit;
using paramkit::test::scratch;
using paramkit::test::slurp;
namespace fs = std::filesystem;

namespace {
struct Payload {
  std::vector<TensorRecord> records;
  std::map<std::string, std::vector<uint8_t>> bytes;
  FillFn fill() const {
    return [this](const TensorRecord& r, void* dst) {
      const auto& b = bytes.at(r.name);
      if (!b.empty()) std::memcpy(dst, b.data(), b.size());
    };
  }
};

Payload every_dtype(int rows) {
  Payload p;
  std::mt19937 g(7);
  for (DType t : all_dtypes()) {
    TensorRecord r{"layer." + std::string(dtype_name(t)) + ".weight", t, {rows, 3}};
    std::vector<uint8_t> b(r.nbytes());
    for (auto& x : b) x = static_cast<uint8_t>(g());
    if (t == DType::BOOL)
      for (auto& x : b) x &= 1;
    p.bytes[r.name] = b;
    p.records.push_back(r);
  }
  p.records.push_back({"scalar", DType::F32, {}});
  p.bytes["scalar"] = {0, 0, 128, 63};
  p.records.push_back({"empty", DType::I64, {0}});
  p.bytes["empty"] = {};
  return p;
}

void check_same(const TensorReader& r, const Payload& p) {
  REQUIRE(r.tensors().size() == p.records.size());
  for (const auto& rec : p.records) {
    const TensorInfo& t = r.info(rec.name);
    CHECK(t.dtype == rec.dtype);
    CHECK(t.shape == rec.shape);
    std::vector<uint8_t> got(t.nbytes());
    r.read(t, got.data());
    CHECK_MESSAGE(got == p.bytes.at(rec.name), rec.name);
  }
}
}  // namespace

TEST_CASE("HF sharded folder: shard limit, index written last, bit-exact round trip") {
  auto dir = scratch("sharded") / "model";
  Payload p = every_dtype(40);
  write_sharded(dir, p.records, p.fill(), {{"provenance", "{\"tool\":\"t\"}"}}, 500);
  REQUIRE(fs::exists(dir / "model.safetensors.index.json"));
  nlohmann::json idx = read_json(dir / "model.safetensors.index.json");
  std::set<std::string> shards;
  for (auto& [k, v] : idx["weight_map"].items()) shards.insert(v.get<std::string>());
  CHECK(shards.size() > 3);
  for (const auto& s : shards) {
    CHECK(s.find("-of-") != std::string::npos);
    // Every shard respects the limit unless it holds a single larger tensor.
    auto r = open_tensors(dir / s);
    uint64_t bytes = 0;
    for (const auto& t : r->tensors()) bytes += t.nbytes();
    CHECK((bytes <= 500 || r->tensors().size() == 1));
  }
  uint64_t total = 0;
  for (const auto& r : p.records) total += r.nbytes();
  CHECK(idx["metadata"]["total_size"].get<uint64_t>() == total);
  auto reader = open_tensors(dir);
  CHECK(reader->format() == StoreFormat::sharded);
  CHECK(reader->metadata().at("provenance") == "{\"tool\":\"t\"}");
  check_same(*reader, p);

  // Rewriting as one shard removes the index and the old shards.
  write_sharded(dir, p.records, p.fill(), {}, 0);
  CHECK_FALSE(fs::exists(dir / "model.safetensors.index.json"));
  CHECK(fs::exists(dir / "model.safetensors"));
  int left = 0;
  for (const auto& e : fs::directory_iterator(dir)) left += e.path().filename().string().find("-of-") != std::string::npos;
  CHECK(left == 0);
  check_same(*open_tensors(dir), p);
}

TEST_CASE("HF sharded folder: missing shard and bad index are InputErrors") {
  auto dir = scratch("sharded-bad") / "model";
  Payload p = every_dtype(40);
  write_sharded(dir, p.records, p.fill(), {}, 500);
  std::string second = read_json(dir / "model.safetensors.index.json")["weight_map"]["layer.BF16.weight"];
  fs::remove(dir / second);
  try {
    open_tensors(dir);
    FAIL("missing shard accepted");
  } catch (const InputError& e) {
    CHECK(std::string(e.what()).find("shard '" + second + "' is missing") != std::string::npos);
  }
  paramkit::test::spit(dir / "model.safetensors.index.json", "{\"weight_map\": 3}");
  CHECK_THROWS_AS(open_tensors(dir), InputError);
  paramkit::test::spit(dir / "model.safetensors.index.json", "{\"weight_map\": {\"a\": \"../x.safetensors\"}}");
  CHECK_THROWS_AS(open_tensors(dir), InputError);
  CHECK_THROWS_AS(open_tensors(dir / "nothing-here"), InputError);
}

TEST_CASE("format dispatch and sizes") {
  CHECK(format_for_path("a/b.safetensors") == StoreFormat::safetensors);
  CHECK(format_for_path("a/b.h5") == StoreFormat::hdf5);
  CHECK(format_for_path("a/b.HDF5") == StoreFormat::hdf5);
  CHECK(format_for_path("a/model") == StoreFormat::sharded);
  CHECK(format_for_path("a/model.dir/") == StoreFormat::sharded);
  CHECK(parse_size("5GB", "--s") == 5000000000ull);
  CHECK(parse_size("2GiB", "--s") == 2147483648ull);
  CHECK(parse_size("500mb", "--s") == 500000000ull);
  CHECK(parse_size("1048576", "--s") == 1048576ull);
  CHECK_THROWS_AS(parse_size("lots", "--s"), UsageError);
  CHECK_THROWS_AS(parse_size("5XB", "--s"), UsageError);
}

#ifdef PARAMKIT_HAVE_HDF5
TEST_CASE("HDF5 store: every dtype bit-exact, groups per module path, metadata, compression") {
  auto dir = scratch("h5");
  Payload p = every_dtype(50);
  Metadata meta = {{"provenance", "{\"tool\":\"x\"}"}, {"config", "{\"a\":1}"}};
  for (int level : {0, 6}) {
    fs::path f = dir / ("m" + std::to_string(level) + ".h5");
    write_h5(f, p.records, p.fill(), meta, level);
    auto r = open_tensors(f);
    CHECK(r->format() == StoreFormat::hdf5);
    CHECK(r->metadata() == meta);
    check_same(*r, p);
  }
  // Deterministic bytes.
  write_h5(dir / "again.h5", p.records, p.fill(), meta, 6);
  CHECK(slurp(dir / "again.h5") == slurp(dir / "m6.h5"));
  // A tensor whose path is another tensor's group cannot be stored.
  Payload clash;
  clash.records = {{"a", DType::F32, {1}}, {"a.b", DType::F32, {1}}};
  clash.bytes = {{"a", {0, 0, 0, 0}}, {"a.b", {0, 0, 0, 0}}};
  CHECK_THROWS_AS(write_h5(dir / "clash.h5", clash.records, clash.fill(), {}, 0), UsageError);
  CHECK_FALSE(fs::exists(dir / "clash.h5"));
  // Not an HDF5 file.
  paramkit::test::spit(dir / "fake.h5", "not hdf5 at all");
  CHECK_THROWS_AS(open_tensors(dir / "fake.h5"), InputError);
}
#endif

TEST_CASE("fill_in_order: several fills at once, buffers handed over in order, bounded, errors rethrown") {
  std::vector<TensorRecord> recs;
  for (int i = 0; i < 40; ++i) recs.push_back({"t" + std::to_string(i), DType::I32, {1 + (i * 7) % 13}});
  for (int threads : {1, 2, 4}) {
    CAPTURE(threads);
    std::atomic<int> running{0}, most{0};
    std::mutex mu;
    std::set<const uint8_t*> buffers;
    size_t expect = 0;
    fill_in_order(
        recs,
        [&](const TensorRecord& r, void* dst) {
          int now = ++running;
          for (int m = most.load(); now > m && !most.compare_exchange_weak(m, now);) {
          }
          // Uneven work so that later records often finish first.
          std::this_thread::sleep_for(std::chrono::microseconds((r.shape[0] * 37) % 300));
          auto* v = static_cast<int32_t*>(dst);
          for (int64_t k = 0; k < r.shape[0]; ++k) v[k] = std::stoi(r.name.substr(1)) * 100 + static_cast<int32_t>(k);
          --running;
        },
        threads,
        [&](size_t i, const uint8_t* bytes) {
          std::lock_guard<std::mutex> lock(mu);
          CHECK(i == expect++);
          buffers.insert(bytes);
          const auto* v = reinterpret_cast<const int32_t*>(bytes);
          for (int64_t k = 0; k < recs[i].shape[0]; ++k) CHECK(v[k] == static_cast<int32_t>(i) * 100 + k);
        });
    CHECK(expect == recs.size());
    CHECK(most.load() <= threads);
    if (threads > 1) CHECK(most.load() > 1);  // the fills did overlap
  }
  // The first error stops the run and reaches the caller; so does an error in the sink.
  auto failing = [&](const TensorRecord& r, void*) {
    if (r.name == "t7") throw InputError("x.safetensors", "tensor 't7'", "bad");
  };
  CHECK_THROWS_AS(fill_in_order(recs, failing, 3, [](size_t, const uint8_t*) {}), InputError);
  CHECK_THROWS_AS(fill_in_order(recs, [](const TensorRecord&, void*) {}, 3,
                                [](size_t i, const uint8_t*) {
                                  if (i == 5) throw Error("sink");
                                }),
                  Error);
}

TEST_CASE("parallel fills write the same bytes as sequential ones (single, sharded, HDF5)") {
  Payload p = every_dtype(50);
  auto dir = scratch("parallel-fill");
  std::vector<std::string> outs = {"a.safetensors", "shards"};
  if (have_hdf5()) outs.push_back("a.h5");
  for (const auto& o : outs) {
    CAPTURE(o);
    WriteOptions seq, par;
    seq.shard_size = par.shard_size = 600;
    par.fill_threads = 3;
    write_tensors(dir / ("seq-" + o), format_for_path(dir / o), p.records, p.fill(), {}, seq);
    write_tensors(dir / ("par-" + o), format_for_path(dir / o), p.records, p.fill(), {}, par);
    if (fs::is_directory(dir / ("seq-" + o))) {
      for (const auto& e : fs::directory_iterator(dir / ("seq-" + o)))
        CHECK(slurp(e.path()) == slurp(dir / ("par-" + o) / e.path().filename()));
    } else {
      CHECK(slurp(dir / ("seq-" + o)) == slurp(dir / ("par-" + o)));
    }
  }
}
