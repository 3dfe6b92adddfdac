// describe / convert / diff over tensor stores.
#include "paramkit/io/ckpt_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fmt/format.h>

#include "paramkit/core/error.h"
#include "paramkit/core/provenance.h"

namespace fs = std::filesystem;

namespace paramkit {

nlohmann::json describe_store(const TensorReader& r) {
  static const char* kFormats[] = {"safetensors", "sharded", "hdf5"};
  nlohmann::json d;
  d["source"] = r.source();
  d["format"] = kFormats[static_cast<int>(r.format())];
  d["files"] = nlohmann::json::array();
  for (const auto& f : r.files()) d["files"].push_back(f.string());
  uint64_t bytes = 0, params = 0;
  d["tensors"] = nlohmann::json::array();
  for (const auto& t : r.tensors()) {
    bytes += t.nbytes();
    params += t.numel();
    d["tensors"].push_back({{"name", t.name}, {"dtype", std::string(dtype_name(t.dtype))}, {"shape", t.shape}, {"bytes", t.nbytes()}});
  }
  d["tensor_count"] = r.tensors().size();
  d["total_bytes"] = bytes;
  d["parameters"] = params;
  d["metadata"] = nlohmann::json::object();
  d["provenance"] = nullptr;
  for (const auto& [k, v] : r.metadata()) {
    if (k == "provenance") {
      try {
        d["provenance"] = nlohmann::json::parse(v);
        continue;
      } catch (const nlohmann::json::exception&) {
      }
    }
    d["metadata"][k] = v;
  }
  return d;
}

std::string format_description(const nlohmann::json& d) {
  std::string s = fmt::format("{} ({}, {} tensors, {} parameters, {} bytes)\n", d["source"].get<std::string>(),
                              d["format"].get<std::string>(), d["tensor_count"].get<uint64_t>(),
                              d["parameters"].get<uint64_t>(), d["total_bytes"].get<uint64_t>());
  if (d["files"].size() > 1)
    for (const auto& f : d["files"]) s += "  file: " + f.get<std::string>() + "\n";
  if (!d["provenance"].is_null()) {
    const auto& p = d["provenance"];
    s += fmt::format("  provenance: {} {} ({}) seed {} at {}\n", p.value("tool", "?"), p.value("version", "?"),
                     p.value("git_commit", "?"), p.value("seed", 0), p.value("time", "?"));
  }
  for (auto it = d["metadata"].begin(); it != d["metadata"].end(); ++it) {
    std::string v = it.value().get<std::string>();
    if (v.size() > 100) v = v.substr(0, 97) + "...";
    s += "  metadata " + it.key() + ": " + v + "\n";
  }
  size_t w = 4;
  for (const auto& t : d["tensors"]) w = std::max(w, t["name"].get<std::string>().size());
  s += fmt::format("{:<{}}  {:<8} {:<20} {:>12}\n", "name", w, "dtype", "shape", "bytes");
  for (const auto& t : d["tensors"]) {
    std::vector<int64_t> shape = t["shape"].get<std::vector<int64_t>>();
    s += fmt::format("{:<{}}  {:<8} {:<20} {:>12}\n", t["name"].get<std::string>(), w, t["dtype"].get<std::string>(),
                     shape_str(shape), t["bytes"].get<uint64_t>());
  }
  return s;
}

ConvertResult convert_store(const fs::path& in, const fs::path& out, const ConvertOptions& o) {
  auto reader = open_tensors(in);
  StoreFormat fmt_out = o.format.value_or(format_for_path(out));
  std::vector<TensorRecord> records;
  for (const auto& t : reader->tensors()) {
    DType d = (o.dtype && dtype_is_float(t.dtype)) ? *o.dtype : t.dtype;
    records.push_back({t.name, d, t.shape});
  }
  Metadata meta = reader->metadata();
  if (reader->format() == StoreFormat::sharded) meta.erase("total_size");
  auto prov = meta.find("provenance");
  if (prov != meta.end()) {
    meta["source_provenance"] = prov->second;
    meta.erase(prov);
  }
  for (const auto& [k, v] : provenance_metadata()) meta[k] = v;
  FillFn fill = [&](const TensorRecord& r, void* dst) { reader->read_as(reader->info(r.name), r.dtype, dst); };
  WriteOptions wo = o.write;
  wo.interruptible = true;  // one SIGINT/SIGTERM ends a conversion within a chunk, leaving nothing
  if (fmt_out == StoreFormat::sharded && fs::is_directory(in)) wo.side_files_from = in;
  const WriteResult written = write_tensors(out, fmt_out, records, fill, meta, wo);
  uint64_t bytes = 0;
  for (const auto& r : records) bytes += r.nbytes();
  return {records.size(), bytes, written.copied_files};
}

void to_json(nlohmann::json& j, const ConvertResult& r) {
  j = {{"tensors", r.tensors}, {"bytes", r.bytes}, {"copied_files", r.copied_files}};
}

void to_json(nlohmann::json& j, const DiffReport& r) {
  j = {{"equal", r.equal}, {"tensors", nlohmann::json::array()}};
  for (const auto& t : r.tensors)
    j["tensors"].push_back({{"name", t.name}, {"status", t.status}, {"max_abs", t.max_abs}, {"max_rel", t.max_rel},
                            {"mismatched", t.mismatched}});
}

DiffReport diff_stores(const TensorReader& a, const TensorReader& b, double atol, double rtol, bool compare_dtypes,
                       bool bitwise) {
  DiffReport rep;
  const auto& ta = a.tensors();
  const auto& tb = b.tensors();
  size_t i = 0, j = 0;
  constexpr uint64_t kChunk = 1 << 20;
  std::vector<double> va, vb;
  std::vector<uint8_t> ra, rb;
  while (i < ta.size() || j < tb.size()) {
    TensorDiff d;
    if (j == tb.size() || (i < ta.size() && ta[i].name < tb[j].name)) {
      d.name = ta[i++].name;
      d.status = "only_a";
    } else if (i == ta.size() || tb[j].name < ta[i].name) {
      d.name = tb[j++].name;
      d.status = "only_b";
    } else {
      const TensorInfo& x = ta[i++];
      const TensorInfo& y = tb[j++];
      d.name = x.name;
      if (x.shape != y.shape) {
        d.status = "shape";
      } else if ((compare_dtypes || bitwise) && x.dtype != y.dtype) {
        d.status = "dtype";
      } else {
        ra.resize(x.nbytes());
        rb.resize(y.nbytes());
        a.read(x, ra.data());
        b.read(y, rb.data());
        const uint64_t n = x.numel();
        if (bitwise) {
          const size_t es = dtype_size(x.dtype);
          for (uint64_t k = 0; k < n; ++k)
            if (std::memcmp(ra.data() + k * es, rb.data() + k * es, es) != 0) ++d.mismatched;
        } else {
          // Values compared in chunks through double.
          for (uint64_t s = 0; s < n; s += kChunk) {
            uint64_t m = std::min(kChunk, n - s);
            va.resize(m);
            vb.resize(m);
            convert_dtype(ra.data() + s * dtype_size(x.dtype), x.dtype, va.data(), DType::F64, m);
            convert_dtype(rb.data() + s * dtype_size(y.dtype), y.dtype, vb.data(), DType::F64, m);
            for (uint64_t k = 0; k < m; ++k) {
              double p = va[k], q = vb[k];
              if (std::isnan(p) && std::isnan(q)) continue;
              if (p == q) continue;  // also equal infinities
              double diff = std::fabs(p - q);
              if (std::isnan(diff)) diff = INFINITY;
              d.max_abs = std::max(d.max_abs, diff);
              if (q != 0) d.max_rel = std::max(d.max_rel, diff / std::fabs(q));
              else d.max_rel = INFINITY;
              if (!(diff <= atol + rtol * std::fabs(q))) ++d.mismatched;
            }
          }
        }
        d.status = d.mismatched ? "differs" : "ok";
      }
    }
    if (d.status != "ok") rep.equal = false;
    rep.tensors.push_back(d);
  }
  return rep;
}

}  // namespace paramkit
