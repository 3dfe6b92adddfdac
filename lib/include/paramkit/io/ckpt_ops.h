// What ckpt-tool does, reusable by every tool: describe a tensor store, convert between formats with
// dtype casts and sharding, and compare two stores tensor by tensor.
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "paramkit/io/tensor_store.h"

namespace paramkit {

// {"source","format","files":[...],"tensor_count","total_bytes","parameters","metadata":{...},
//  "provenance":{...}|null,"tensors":[{"name","dtype","shape","bytes"}...]}
nlohmann::json describe_store(const TensorReader& reader);
std::string format_description(const nlohmann::json& description);

struct ConvertOptions {
  std::optional<DType> dtype;  // cast floating tensors
  WriteOptions write;
  std::optional<StoreFormat> format;  // default: from the output path
};

// Streams every tensor from `in` to `out` (memory: the largest tensor). Input metadata is kept, the
// input's provenance moves to "source_provenance" and the current run's becomes "provenance".
// Between Hugging Face folders the non-weight files (config.json, tokenizer files...) are copied too,
// as part of the output folder. The output appears whole or not at all; SIGINT/SIGTERM end the
// conversion within a chunk (Interrupted) and leave no output.
struct ConvertResult {
  size_t tensors = 0;
  uint64_t bytes = 0;
  std::vector<std::string> copied_files;  // side files of a Hugging Face folder
};
void to_json(nlohmann::json& j, const ConvertResult& r);
ConvertResult convert_store(const std::filesystem::path& in, const std::filesystem::path& out, const ConvertOptions& options);

struct TensorDiff {
  std::string name;
  std::string status;  // "ok", "differs", "only_a", "only_b", "shape", "dtype"
  double max_abs = 0, max_rel = 0;
  uint64_t mismatched = 0;  // elements beyond tolerance
};

struct DiffReport {
  std::vector<TensorDiff> tensors;
  bool equal = true;
};
void to_json(nlohmann::json& j, const DiffReport& r);

// Element-wise |a-b| <= atol + rtol*|b| (NaN equals NaN). Different dtypes compare by value when
// compare_dtypes is false.
// bitwise: compare the stored bytes of each element instead of values (then -0 != +0 and NaN payloads
// count), for byte-for-byte checks.
DiffReport diff_stores(const TensorReader& a, const TensorReader& b, double atol, double rtol, bool compare_dtypes = true,
                       bool bitwise = false);

}  // namespace paramkit
