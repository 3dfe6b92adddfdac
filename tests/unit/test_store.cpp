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

TEST_CASE("HDF5 store: tensors larger than a slab (read and written in pieces) round-trip bit-exactly") {
  auto dir = scratch("h5-slabs");
  Payload p;
  std::mt19937 g(3);
  // 41 MB in 2-D (several 16 MB slabs), 40 MB in 1-D, and a compressed slab of 2 MB chunks.
  p.records = {{"big.matrix", DType::F32, {2500, 4100}}, {"big.vector", DType::U8, {40000000}}, {"small", DType::F16, {3, 5}}};
  for (const auto& r : p.records) {
    auto& b = p.bytes[r.name];
    b.resize(r.nbytes());
    for (size_t i = 0; i < b.size(); i += 4) b[i] = static_cast<uint8_t>(g());  // compressible, not constant
  }
  for (int level : {0, 1}) {
    fs::path f = dir / ("big" + std::to_string(level) + ".h5");
    write_h5(f, p.records, p.fill(), {}, level);
    check_same(*open_tensors(f), p);
  }
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

namespace {
// The shard files of a folder, by name.
std::set<std::string> shard_names(const fs::path& dir) {
  std::set<std::string> s;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".safetensors") s.insert(e.path().filename().string());
  return s;
}

std::string open_error(const fs::path& p) {
  try {
    open_tensors(p);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

// A single-tensor safetensors file written as the writers do.
void write_one(const fs::path& p, const std::string& name, std::vector<uint8_t> bytes) {
  Payload q;
  q.records = {{name, DType::U8, {static_cast<int64_t>(bytes.size())}}};
  q.bytes[name] = std::move(bytes);
  write_tensors(p, StoreFormat::safetensors, q.records, q.fill(), {});
}
}  // namespace

TEST_CASE("HF folder: a shard set that is incomplete or disagrees with its index is refused, naming the file") {
  auto dir = scratch("sharded-consistency");
  Payload p = every_dtype(40);
  const fs::path good = dir / "good";
  write_sharded(good, p.records, p.fill(), {}, 500);
  const auto names = shard_names(good);
  REQUIRE(names.size() >= 4);
  const std::string first = *names.begin(), second = *std::next(names.begin());
  nlohmann::json idx = read_json(good / "model.safetensors.index.json");
  auto copy_of_good = [&](const std::string& name) {
    fs::path d = dir / name;
    fs::create_directories(d);
    for (const auto& e : fs::directory_iterator(good)) fs::copy_file(e.path(), d / e.path().filename());
    return d;
  };

  // A tensor the index puts in another shard (shards of one write beside the index of another).
  {
    // The first shard rewritten holding one more tensor, which the index gives to another shard
    // (how a rewrite with another dtype or shard size mixes with an old index).
    fs::path d = copy_of_good("moved");
    std::string moved;
    for (auto& [k, v] : idx["weight_map"].items())
      if (v == second) moved = k;
    auto reader = open_tensors(good);
    Payload q;
    for (const auto& t : reader->tensors())
      if (idx["weight_map"][t.name] == first || t.name == moved) {
        q.records.push_back({t.name, t.dtype, t.shape});
        q.bytes[t.name].resize(t.nbytes());
        reader->read(t, q.bytes[t.name].data());
      }
    fs::remove(d / first);
    write_tensors(d / first, StoreFormat::safetensors, q.records, q.fill(), {});
    const std::string e = open_error(d);
    CHECK_MESSAGE(e.find((d / first).string() + ": tensor '" + moved + "': is in this shard but model.safetensors.index.json puts it in '" +
                         second + "'") != std::string::npos,
                  e);
  }
  // A shard holding a tensor the index does not list.
  {
    fs::path d = copy_of_good("unlisted");
    std::map<std::string, std::vector<std::string>> by_shard;  // a tensor of a shard holding several
    for (auto& [k, v] : idx["weight_map"].items()) by_shard[v.get<std::string>()].push_back(k);
    std::string dropped;
    for (const auto& [f, ts] : by_shard)
      if (ts.size() > 1) dropped = ts.back();
    REQUIRE(!dropped.empty());
    nlohmann::json j = idx;
    j["weight_map"].erase(dropped);
    write_json(d / "model.safetensors.index.json", j);
    const std::string e = open_error(d);
    CHECK_MESSAGE(e.find("tensor '" + dropped + "': is in the shard but not in model.safetensors.index.json") != std::string::npos, e);
  }
  // An index naming only some members of its series (every tensor of one shard dropped from the index).
  {
    fs::path d = copy_of_good("partial-index");
    nlohmann::json j = idx;
    for (auto it = idx["weight_map"].begin(); it != idx["weight_map"].end(); ++it)
      if (it.value() == second) j["weight_map"].erase(it.key());
    write_json(d / "model.safetensors.index.json", j);
    const std::string e = open_error(d);
    CHECK_MESSAGE(e.find("no tensor is in '" + second + "'") != std::string::npos, e);
  }
  // A tensor of the index absent from its shard (the shard replaced by one from another write).
  {
    fs::path d = copy_of_good("replaced-shard");
    fs::remove(d / second);
    write_one(d / second, "something.else", {1, 2, 3});
    const std::string e = open_error(d);
    CHECK_MESSAGE(e.find("listed in model.safetensors.index.json but not in the shard") != std::string::npos, e);
  }
  // The same tensors and packing from another run (another dtype, say): told apart by provenance.
  {
    fs::path d = dir / "mixed";
    write_sharded(d, p.records, p.fill(), {{"provenance", "{\"run\":1}"}}, 500);
    write_sharded(dir / "other-run", p.records, p.fill(), {{"provenance", "{\"run\":2}"}}, 500);
    CHECK(open_error(d).empty());
    fs::copy_file(dir / "other-run" / second, d / second, fs::copy_options::overwrite_existing);
    const std::string e = open_error(d);
    CHECK_MESSAGE(e.find((d / second).string() + ": __metadata__.provenance: differs from that of " +
                         (d / "model.safetensors.index.json").string()) != std::string::npos,
                  e);
  }
  // Shards without an index: a lone first shard, or a series with a member missing.
  {
    fs::path d = dir / "lone";
    fs::create_directories(d);
    fs::copy_file(good / first, d / first);
    const std::string e = open_error(d);
    CHECK_MESSAGE(e.find("'" + second + "' is missing") != std::string::npos, e);
    CHECK(e.find("1 of the " + std::to_string(names.size()) + " shards") != std::string::npos);
    CHECK(open_error(d / first).empty());  // the file itself, asked for by name, reads
  }
  {
    fs::path d = copy_of_good("no-index");
    fs::remove(d / "model.safetensors.index.json");
    fs::remove(d / *names.rbegin());
    const std::string e = open_error(d);
    CHECK_MESSAGE(e.find("'" + *names.rbegin() + "' is missing") != std::string::npos, e);
  }
  // A complete series of one needs no index.
  {
    fs::path d = dir / "one";
    fs::create_directories(d);
    write_one(d / "model-00001-of-00001.safetensors", "w", {1, 2});
    CHECK(open_error(d).empty());
  }
  // Files and folders mistaken for each other say so.
  fs::create_directories(dir / "dir.safetensors");
  CHECK(open_error(dir / "dir.safetensors").find("is a folder, not a file") != std::string::npos);
  fs::create_directories(dir / "bad-index" / "model.safetensors.index.json");
  CHECK(open_error(dir / "bad-index").find("model.safetensors.index.json: is a folder, not a file") != std::string::npos);
  CHECK(open_error(good).empty());
}

TEST_CASE("HF folder outputs appear whole or not at all") {
  auto dir = scratch("sharded-atomic");
  Payload p = every_dtype(40);
  const fs::path out = dir / "hf";
  write_sharded(out, p.records, p.fill(), {}, 500);
  paramkit::test::spit(out / "config.json", "{\"model_type\":\"x\"}");
  std::map<std::string, std::string> before;
  for (const auto& e : fs::directory_iterator(out)) before[e.path().filename().string()] = slurp(e.path());

  // A rewrite that fails after some shards (an error, a signal) leaves the old folder byte for byte.
  int calls = 0;
  FillFn failing = [&](const TensorRecord& r, void* dst) {
    if (++calls == 8) throw Error("disk full");
    p.fill()(r, dst);
  };
  CHECK_THROWS_AS(write_sharded(out, p.records, failing, {}, 300), Error);
  std::map<std::string, std::string> after;
  for (const auto& e : fs::directory_iterator(out)) after[e.path().filename().string()] = slurp(e.path());
  CHECK(after == before);
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);  // no temp folder left

  // A fresh folder that fails is not there at all.
  calls = 0;
  CHECK_THROWS_AS(write_sharded(dir / "new" / "hf", p.records, failing, {}, 300), Error);
  CHECK_FALSE(fs::exists(dir / "new"));

  // A rewrite that succeeds replaces the weights as a whole and keeps the folder's other files;
  // side files of a source folder come with it, in the same swap.
  fs::create_directories(dir / "src");
  paramkit::test::spit(dir / "src" / "tokenizer.json", "{}");
  paramkit::test::spit(dir / "src" / "config.json", "{\"model_type\":\"y\"}");
  WriteOptions wo;
  wo.shard_size = 0;
  wo.side_files_from = dir / "src";
  WriteResult r = write_tensors(out, StoreFormat::sharded, p.records, p.fill(), {}, wo);
  CHECK(r.copied_files == std::vector<std::string>{"config.json", "tokenizer.json"});
  CHECK(shard_names(out) == std::set<std::string>{"model.safetensors"});
  CHECK_FALSE(fs::exists(out / "model.safetensors.index.json"));
  CHECK(slurp(out / "config.json") == "{\"model_type\":\"y\"}");
  check_same(*open_tensors(out), p);
  // Converting a folder onto itself (one file into shards) reads the old shards while writing.
  {
    auto in = open_tensors(out);
    std::vector<TensorRecord> recs;
    for (const auto& t : in->tensors()) recs.push_back({t.name, t.dtype, t.shape});
    write_sharded(out, recs, [&](const TensorRecord& rec, void* dst) { in->read(in->info(rec.name), dst); }, {}, 400);
  }
  CHECK(shard_names(out).size() > 3);
  CHECK(slurp(out / "tokenizer.json") == "{}");
  check_same(*open_tensors(out), p);
}
