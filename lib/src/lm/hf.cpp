// Hugging Face model folders: config.json + model.safetensors (or shards with an index) <-> CausalLM,
// through the stores of io/tensor_store.h.
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cstring>
#include <set>

#include "paramkit/core/error.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/lm/model.h"
#include "paramkit/torch/state_dict.h"

namespace paramkit::lm {
namespace fs = std::filesystem;
namespace {

bool ends_with(const std::string& s, const std::string& t) {
  return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}
bool starts_with(const std::string& s, const std::string& t) { return s.compare(0, t.size(), t) == 0; }

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

const char* hf_dtype_name(c10::ScalarType t) {
  switch (t) {
    case torch::kFloat16: return "float16";
    case torch::kBFloat16: return "bfloat16";
    case torch::kFloat64: return "float64";
    default: return "float32";
  }
}

CausalLM load_into(const LmConfig& config, const TensorReader& reader, const LoadOptions& o) {
  if (o.dtype != torch::kFloat32 && o.dtype != torch::kFloat16 && o.dtype != torch::kBFloat16)
    throw UsageError(std::string("load_causal_lm: compute dtype must be float32, float16 or bfloat16, got ") +
                     c10::toString(o.dtype));
  CausalLM model(config, o.head, o.seed, /*initialize=*/false);
  const std::string src = reader.source();
  // Older GPT-2 files name tensors without the "transformer." prefix (h.0.ln_1.weight, wte.weight).
  const bool gpt2 = config.arch == Arch::gpt2;
  const bool bare = gpt2 && !reader.contains("transformer.wte.weight") && reader.contains("wte.weight");
  auto file_name = [&](const std::string& n) {
    return bare && starts_with(n, "transformer.") ? n.substr(std::strlen("transformer.")) : n;
  };
  std::vector<std::string> problems;
  std::set<std::string> used;
  const DType target = from_torch_dtype(o.dtype);
  torch::NoGradGuard ng;
  for (auto& item : model->named_parameters()) {
    const std::string& name = item.key();
    torch::Tensor& p = item.value();
    const std::string f = file_name(name);
    if (!reader.contains(f)) {
      if (name == "score.weight" && o.init_missing_score) {
        at::Generator gen = at::detail::createCPUGenerator(o.seed);
        p.set_data(torch::empty(p.sizes()).normal_(0.0, config.initializer_range, gen).to(o.device, o.dtype));
        continue;
      }
      problems.push_back(f + ": missing");
      continue;
    }
    used.insert(f);
    const TensorInfo& info = reader.info(f);
    if (info.shape != p.sizes().vec()) {
      problems.push_back(f + ": shape " + shape_str(info.shape) + ", expected " + shape_str(p.sizes().vec()));
      continue;
    }
    if (!dtype_is_float(info.dtype)) {
      problems.push_back(f + ": dtype " + std::string(dtype_name(info.dtype)) + ", expected a floating type");
      continue;
    }
    p.set_data(read_tensor_to(reader, f, o.device, target).to(o.dtype));
  }
  for (const auto& t : reader.tensors()) {
    const std::string& n = t.name;
    if (used.count(n)) continue;
    // Not parameters: GPT-2's causal-mask buffers, rotary inverse frequencies of old Llama files, a
    // tied head written anyway, the other head of a checkpoint used for the other kind of model.
    if (ends_with(n, ".attn.bias") || ends_with(n, ".attn.masked_bias") || ends_with(n, ".rotary_emb.inv_freq")) continue;
    if (n == "lm_head.weight" && (o.head == Head::score || config.tie_word_embeddings)) {
      if (t.shape != std::vector<int64_t>{config.vocab_size, config.hidden_size})
        problems.push_back(n + ": shape " + shape_str(t.shape) + ", expected " +
                           shape_str({config.vocab_size, config.hidden_size}));
      continue;
    }
    problems.push_back(n + ": not a tensor of this " + std::string(gpt2 ? "GPT-2" : "Llama") + " model");
  }
  if (!problems.empty()) {
    std::string msg;
    const size_t shown = std::min<size_t>(problems.size(), 8);
    for (size_t i = 0; i < shown; ++i) msg += (i ? "; " : "") + problems[i];
    if (problems.size() > shown) msg += "; and " + std::to_string(problems.size() - shown) + " more";
    throw InputError(src, "", msg);
  }
  model->eval();
  return model;
}

}  // namespace

CausalLM load_causal_lm(const fs::path& config_json, const fs::path& weights, const LoadOptions& options) {
  const LmConfig config = read_lm_config(config_json);
  auto reader = open_tensors(weights);
  return load_into(config, *reader, options);
}

CausalLM load_causal_lm(const fs::path& dir, const LoadOptions& options) {
  if (!fs::is_directory(dir)) throw InputError(dir.string(), "", "not a folder (expected config.json and model*.safetensors)");
  if (!fs::exists(dir / "config.json")) throw InputError((dir / "config.json").string(), "", "missing");
  const LmConfig config = read_lm_config(dir / "config.json");
  auto reader = open_hf_folder(dir);
  return load_into(config, *reader, options);
}

void save_causal_lm(CausalLMImpl& model, const fs::path& dir, const SaveLmOptions& o) {
  const auto named = named_state(model);
  const DType out = o.dtype.value_or(from_torch_dtype(model.dtype()));
  if (out != DType::F32 && out != DType::F16 && out != DType::BF16)
    throw UsageError("save_causal_lm: dtype must be F32, F16 or BF16, got " + std::string(dtype_name(out)));
  const c10::ScalarType out_t = to_torch_dtype(out);
  std::vector<TensorRecord> records;
  std::map<std::string, torch::Tensor> by_name;
  for (const auto& [n, t] : named) {
    records.push_back({n, out, t.sizes().vec()});
    by_name[n] = t;
  }
  FillFn fill = [&](const TensorRecord& r, void* dst) {
    torch::NoGradGuard ng;
    auto t = by_name.at(r.name).detach().to(torch::kCPU, out_t).contiguous();
    std::memcpy(dst, t.data_ptr(), r.nbytes());
  };
  Metadata meta = o.metadata;
  meta["format"] = "pt";  // transformers refuses safetensors files without it
  nlohmann::json cfg = to_hf_json(model.config(), model.head());
  cfg["torch_dtype"] = hf_dtype_name(out_t);

  // config.json and the weights in one folder swap: the weights are written into the staging folder
  // (their own swap keeps config.json), then the staging folder replaces the target.
  AtomicFolder folder(dir);
  const fs::path tmp = folder.temp_path();
  if (!o.side_files_from.empty()) copy_hf_side_files(o.side_files_from, tmp);
  write_file_atomic(tmp / "config.json", cfg.dump(2) + "\n");
  write_sharded(tmp, records, fill, meta, o.shard_size);
  folder.keep_from_target([](const std::string& f) {
    return f != "config.json" && f != "model.safetensors.index.json" && !ends_with(f, ".safetensors") && f[0] != '.';
  });
  folder.commit();
}

}  // namespace paramkit::lm
