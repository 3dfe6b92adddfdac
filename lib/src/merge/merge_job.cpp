// Planning and running a merge.
#include "paramkit/merge/merge_job.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <dirent.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include "paramkit/torch/device.h"
#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/provenance.h"
#include "paramkit/core/signals.h"
#include "paramkit/torch/state_dict.h"
#include "paramkit/io/tensor_store.h"

namespace fs = std::filesystem;

namespace paramkit::merge {
namespace {

uint64_t name_hash(const std::string& s) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

struct Plan {
  std::vector<TensorRecord> records;            // output tensors (base's names and shapes)
  std::set<std::string> excluded;               // base tensors matching --exclude (also in copied)
  std::map<std::string, std::vector<int>> contributors;  // float tensors: models that have them
  std::set<std::string> copied;                 // copied from the reference model unchanged
  int missing = 0;                              // (model, tensor) pairs absent
};

Plan make_plan(const MergeJob& job, const TensorReader* base, const std::vector<std::unique_ptr<TensorReader>>& models) {
  Plan plan;
  const TensorReader& ref = base ? *base : *models[0];
  auto excluded = [&](const std::string& name) {
    return std::any_of(job.exclude.begin(), job.exclude.end(), [&](const std::string& p) { return name_matches(p, name); });
  };
  for (const auto& p : job.exclude) {
    bool any = std::any_of(ref.tensors().begin(), ref.tensors().end(), [&](const TensorInfo& t) { return name_matches(p, t.name); });
    if (!any) log::warn("--exclude '{}' matches no tensor of {}", p, ref.source());
  }
  for (const auto& t : ref.tensors()) {
    DType out = (job.dtype && dtype_is_float(t.dtype)) ? *job.dtype : t.dtype;
    plan.records.push_back({t.name, out, t.shape});
    if (excluded(t.name)) {  // the base's, whatever the models hold under that name
      plan.copied.insert(t.name);
      plan.excluded.insert(t.name);
      continue;
    }
    if (!dtype_is_float(t.dtype)) {
      plan.copied.insert(t.name);
      continue;
    }
    std::vector<int> who;
    for (size_t i = 0; i < models.size(); ++i) {
      if (!models[i]->contains(t.name)) {
        ++plan.missing;
        continue;
      }
      const TensorInfo& m = models[i]->info(t.name);
      if (m.shape != t.shape)
        throw InputError(models[i]->source(), "tensor '" + t.name + "'",
                         "shape " + shape_str(m.shape) + " differs from the base's " + shape_str(t.shape) +
                             " (models must share the base's architecture)");
      if (!dtype_is_float(m.dtype))
        throw InputError(models[i]->source(), "tensor '" + t.name + "'",
                         "dtype " + std::string(dtype_name(m.dtype)) + " is not floating point, the base's is " +
                             std::string(dtype_name(t.dtype)));
      who.push_back(static_cast<int>(i));
    }
    if (who.empty()) plan.copied.insert(t.name);
    else plan.contributors[t.name] = who;
  }
  // Per model: tensors of the base it lacks (an error unless allowed), tensors the base lacks (ignored).
  for (size_t i = 0; i < models.size(); ++i) {
    std::vector<std::string> lacks;
    size_t shared = 0;
    for (const auto& t : ref.tensors()) {
      if (!dtype_is_float(t.dtype) || plan.excluded.count(t.name)) continue;
      if (models[i]->contains(t.name)) ++shared;
      else lacks.push_back(t.name);
    }
    if (shared == 0)
      throw InputError(models[i]->source(), "", "shares no floating-point tensor with the base model " + ref.source() +
                                                    (job.exclude.empty() ? "" : " outside --exclude"));
    if (!lacks.empty()) {
      std::string list;
      for (size_t k = 0; k < lacks.size() && k < 5; ++k) list += (k ? ", " : "") + lacks[k];
      if (lacks.size() > 5) list += ", ...";
      if (!job.allow_missing)
        throw InputError(models[i]->source(), "tensors",
                         std::to_string(lacks.size()) + " of the base's tensors are missing (" + list +
                             "); --allow-missing merges them from the other models");
      log::warn("{}: {} of the base's tensors are missing and merged without it ({})", models[i]->source(), lacks.size(), list);
    }
    for (const auto& t : models[i]->tensors())
      if (!ref.contains(t.name) && !excluded(t.name))
        log::warn("{}: tensor '{}' is not in the base model and is left out", models[i]->source(), t.name);
  }
  return plan;
}

}  // namespace


// mergekit's rules (config.py ConfigReader.parameter, plan.py): a model's own `parameters` come first,
// the top-level `parameters` block is the fallback for every model; the base model listed among
// `models` is the reference of the task-vector methods, and for linear one more model to average.
void apply_merge_config(const nlohmann::json& c, const std::string& source, MergeJob& job, const std::set<std::string>& keep) {
  if (!c.is_object()) throw InputError(source, "", "expected a mapping of merge settings");
  auto num = [&](const nlohmann::json& v, const std::string& field, double lo, double hi, bool lo_open, bool hi_open) {
    if (v.is_array()) throw InputError(source, field, "per-layer gradients (lists) are not supported; give one number");
    if (!v.is_number()) throw InputError(source, field, "expected a number");
    const double x = v.get<double>();
    const bool ok = std::isfinite(x) && (lo_open ? x > lo : x >= lo) && (hi_open ? x < hi : x <= hi);
    if (!ok)
      throw InputError(source, field,
                       "expected a number in " + std::string(lo_open ? "(" : "[") + short_number(lo) + ", " + short_number(hi) +
                           (hi_open ? ")" : "]") + ", got " + short_number(x));
    return x;
  };
  auto scale = [&](const nlohmann::json& v, const std::string& field) { return num(v, field, -kMaxScale, kMaxScale, false, false); };
  auto boolean = [&](const nlohmann::json& v, const std::string& field) {
    if (!v.is_boolean()) throw InputError(source, field, "expected true or false");
    return v.get<bool>();
  };
  auto text = [&](const nlohmann::json& v, const std::string& field) {
    if (!v.is_string()) throw InputError(source, field, "expected a string");
    return v.get<std::string>();
  };
  static const std::set<std::string> top = {"merge_method", "base_model", "models", "parameters", "dtype", "pcb_scope", "out_shard_size"};
  for (auto it = c.begin(); it != c.end(); ++it) {
    if (it.key() == "slices" || it.key() == "modules")
      throw InputError(source, it.key(), "not supported (layer slices and modules); list whole models under `models`");
    if (!top.count(it.key())) throw InputError(source, it.key(), "unknown key (known: merge_method, base_model, models, parameters, dtype, pcb_scope)");
  }
  // A setting the command line gave wins; say so where the config disagrees.
  auto overridden = [&](const std::string& key, const std::string& config_value, const std::string& used) {
    if (config_value != used)
      log::warn("{}: {} '{}' is overridden by the command line ('{}')", source, key, config_value, used);
  };
  if (c.contains("merge_method")) {
    const std::string m = text(c["merge_method"], "merge_method");
    if (keep.count("method")) overridden("merge_method", m, job.method.method);
    else job.method.method = m;
  }
  if (c.contains("base_model")) {
    const std::string b = text(c["base_model"], "base_model");
    if (keep.count("base")) overridden("base_model", b, job.base);
    else job.base = b;
  }
  const std::string& method = job.method.method;
  if (c.contains("dtype")) {
    std::string d = text(c["dtype"], "dtype");
    static const std::map<std::string, DType> names = {{"float32", DType::F32}, {"float16", DType::F16}, {"bfloat16", DType::BF16},
                                                       {"F32", DType::F32}, {"F16", DType::F16}, {"BF16", DType::BF16}};
    auto it = names.find(d);
    if (it == names.end()) throw InputError(source, "dtype", "expected float32, float16 or bfloat16, got '" + d + "'");
    job.dtype = it->second;
  }
  if (c.contains("pcb_scope")) {
    const std::string s = text(c["pcb_scope"], "pcb_scope");
    if (keep.count("pcb_scope")) overridden("pcb_scope", s, job.pcb_scope);
    else job.pcb_scope = s;
  }

  // Top-level parameters: the method's own, and the fallback of every model's.
  ModelParams fallback;
  bool fallback_weight = false;
  if (c.contains("parameters") && !c["parameters"].is_null()) {  // `parameters:` with nothing is allowed
    if (!c["parameters"].is_object()) throw InputError(source, "parameters", "expected a mapping");
    for (auto it = c["parameters"].begin(); it != c["parameters"].end(); ++it) {
      const std::string k = it.key(), fk = "parameters." + k;
      const auto& v = it.value();
      if (k == "normalize") job.method.normalize = boolean(v, fk);
      else if (k == "rescale") job.method.rescale = boolean(v, fk);
      else if (k == "int8_mask") {
        // mergekit: the dtype of the sign-agreement mask (int8 instead of the model's dtype) to save
        // memory; a 0/1 mask is exact in either, so results do not change.
        if (boolean(v, fk))
          log::debug("{}: parameters.int8_mask accepted; it does not change results (masks are exact in float32 here)", source);
      } else if (k == "lambda") job.method.lambda = job.method.pcb.lambda = scale(v, fk);
      else if (k == "t") {
        const double t = num(v, fk, 0, 1, false, false);
        if (keep.count("t")) overridden("parameters.t", short_number(t), short_number(job.method.t));
        else job.method.t = t;
      } else if (k == "ratio" || k == "pcb_ratio") {
        const double r = num(v, fk, 0, 1, true, false);
        if (keep.count("pcb_ratio")) overridden(fk, short_number(r), short_number(job.method.pcb.ratio));
        else job.method.pcb.ratio = r;
      } else if (k == "clamp") job.method.pcb.clamp = boolean(v, fk);
      else if (k == "clamp_lo") job.method.pcb.clamp_lo = num(v, fk, 0, 0.5, false, true);
      else if (k == "clamp_hi") job.method.pcb.clamp_hi = num(v, fk, 0, 0.5, false, true);
      else if (k == "variant") {
        const std::string var = text(v, fk);
        if (keep.count("pcb_variant")) overridden(fk, var, job.method.pcb.variant);
        else job.method.pcb.variant = var;
      } else if (k == "weight") {
        fallback.weight = scale(v, fk);
        fallback_weight = true;
      } else if (k == "density") fallback.density = num(v, fk, 0, 1, true, false);
      else if (k == "gamma") fallback.gamma = num(v, fk, 0, 1, false, true);
      else if (k == "epsilon") fallback.epsilon = num(v, fk, 0, 1, false, true);
      else throw InputError(source, fk, "unknown parameter");
    }
  }

  if (!c.contains("models")) return;
  if (keep.count("models"))
    throw UsageError("--models and the models of the merge config " + source + " exclude each other; give the models in one place");
  if (!c["models"].is_array()) throw InputError(source, "models", "expected a list");
  job.models.clear();
  job.params.clear();
  std::vector<std::optional<double>> lambdas;
  bool base_listed = false;
  for (size_t i = 0; i < c["models"].size(); ++i) {
    const auto& m = c["models"][i];
    const std::string f = "models[" + std::to_string(i) + "]";
    if (!m.is_object() || !m.contains("model") || !m["model"].is_string()) throw InputError(source, f + ".model", "expected a path");
    ModelParams p = fallback;
    std::optional<double> lambda;
    if (m.contains("parameters") && !m["parameters"].is_null()) {
      if (!m["parameters"].is_object()) throw InputError(source, f + ".parameters", "expected a mapping");
      for (auto it = m["parameters"].begin(); it != m["parameters"].end(); ++it) {
        const std::string k = it.key(), fk = f + ".parameters." + k;
        if (k == "weight") p.weight = scale(it.value(), fk);
        else if (k == "density") p.density = num(it.value(), fk, 0, 1, true, false);
        else if (k == "gamma") p.gamma = num(it.value(), fk, 0, 1, false, true);
        else if (k == "epsilon") p.epsilon = num(it.value(), fk, 0, 1, false, true);
        else if (k == "lambda") {
          if (method != "pcb") throw InputError(source, fk, "a lambda per model is for pcb; " + method + " takes one lambda under parameters");
          lambda = scale(it.value(), fk);
        } else throw InputError(source, fk, "unknown model parameter (weight, density, gamma, epsilon, lambda)");
      }
    }
    const std::string path = m["model"].get<std::string>();
    if (!job.base.empty() && path == job.base) {
      base_listed = true;
      if (method != "linear") continue;  // the reference of the task vectors, not a task
    }
    job.models.push_back(path);
    job.params.push_back(p);
    lambdas.push_back(lambda);
  }
  // linear averages every input, the base included: mergekit adds a base_model missing from `models`
  // with the top-level parameters, and stops when they give it no weight.
  if (method == "linear" && c.contains("base_model") && !job.base.empty() && !base_listed) {
    if (!fallback_weight)
      throw InputError(source, "base_model",
                       "linear averages the base model with the models (as mergekit does), and '" + job.base +
                           "' is neither among `models` nor given a weight: list it under models with a weight, give "
                           "parameters.weight, or remove base_model");
    job.models.push_back(job.base);
    job.params.push_back(fallback);
    lambdas.push_back(std::nullopt);
  }
  bool any_lambda = false;
  for (const auto& l : lambdas) any_lambda = any_lambda || l.has_value();
  job.method.pcb.lambdas.clear();
  if (any_lambda)
    for (const auto& l : lambdas) job.method.pcb.lambdas.push_back(l.value_or(job.method.pcb.lambda));
}

void remove_stale_candidates(const fs::path& dir) {
  // .pcb-merge-candidate-PID[.ext] and the writers' temps of it (..pcb-merge-candidate-PID....tmp-...)
  // of processes that no longer run.
  DIR* d = ::opendir(dir.empty() ? "." : dir.c_str());
  if (!d) return;
  std::vector<std::string> stale;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    size_t at = std::string::npos;
    for (const char* prefix : {".pcb-merge-candidate-", "..pcb-merge-candidate-"})
      if (name.rfind(prefix, 0) == 0) at = std::strlen(prefix);
    if (at == std::string::npos) continue;
    char* end = nullptr;
    const long pid = std::strtol(name.c_str() + at, &end, 10);
    if (end == name.c_str() + at || pid <= 0) continue;
    const bool alive = ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
    if (!alive) stale.push_back(name);
  }
  ::closedir(d);
  for (const auto& name : stale) {
    std::error_code ec;
    fs::remove_all((dir.empty() ? fs::path(".") : dir) / name, ec);
    if (!ec) log::info("removed {} left by an earlier search that did not finish", ((dir.empty() ? fs::path(".") : dir) / name).string());
  }
}

void check_output(const std::filesystem::path& out, const std::string& what) {
  std::error_code ec;
  if (out.empty()) throw UsageError(what + ": no output path");
  const fs::file_status st = fs::status(out, ec);
  if (!fs::exists(st)) return;
  const StoreFormat fmt = format_for_path(out);
  if (fs::is_directory(st)) {
    // A folder output replaces a model folder (a previous output) or fills an empty one; any other
    // folder is the user's, not ours to write into.
    const bool model = fs::exists(out / "model.safetensors", ec) || fs::exists(out / "model.safetensors.index.json", ec);
    const bool empty = fs::is_empty(out, ec);
    if (!model && !empty)
      throw UsageError(what + " " + out.string() +
                       ": an existing folder that holds no model (no model.safetensors or model.safetensors.index.json); "
                       "give a new or empty folder, or a previous output");
    return;
  }
  if (fmt == StoreFormat::sharded)
    throw UsageError(what + " " + out.string() + ": a file exists there; a folder output (a path without an extension) needs a folder");
  if (!fs::is_regular_file(st)) throw UsageError(what + " " + out.string() + ": exists and is not a regular file");
}

void to_json(nlohmann::json& j, const MergeResult& r) {
  j = {{"method", r.method},
       {"tensors", r.tensors},
       {"merged", r.merged},
       {"merge_threads", r.merge_threads},
       {"copied", r.copied},
       {"excluded", r.excluded},
       {"missing_pairs", r.missing_pairs},
       {"copied_files", r.copied_files},
       {"pcb_scope", r.pcb_scope},
       {"pcb_statistics", r.pcb_statistics}};
}

bool name_matches(const std::string& pattern, const std::string& name) {
  // Iterative wildcard matching: on a mismatch, let the last * absorb one more character.
  size_t p = 0, n = 0, star = std::string::npos, mark = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = n;
    } else if (star != std::string::npos) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

MergeResult run_merge(const MergeJob& job) {
  check_output(job.out, "output");
  remove_stale_candidates(job.out.parent_path());
  MethodOptions mo = job.method;
  if (mo.method == "pcb" && mo.pcb.lambdas.empty()) mo.pcb.lambda = mo.lambda;
  validate_method(mo, job.params);
  if (job.params.size() != job.models.size()) throw UsageError("one set of parameters per model is needed");
  if (method_needs_base(mo.method) && job.base.empty()) throw UsageError(mo.method + " needs a base model (--base)");
  if (job.pcb_scope != "global" && job.pcb_scope != "per-tensor")
    throw UsageError("--pcb-scope must be global or per-tensor, got '" + job.pcb_scope + "'");

  std::unique_ptr<TensorReader> base;
  if (!job.base.empty()) base = open_tensors(job.base);
  std::vector<std::unique_ptr<TensorReader>> models;
  for (const auto& m : job.models) models.push_back(open_tensors(m));
  Plan plan = make_plan(job, base.get(), models);
  const TensorReader& ref = base ? *base : *models[0];
  const bool global_pcb = mo.method == "pcb" && job.pcb_scope == "global";
  if (global_pcb)
    for (const auto& [name, who] : plan.contributors)
      if (who.size() != models.size())
        throw InputError(models[0]->source(), "tensor '" + name + "'",
                         "global PCB needs every fine-tuned model to have every merged tensor; use --pcb-scope per-tensor");

  // ties keeps int(density x size) entries of each task vector: none of a tensor smaller than
  // 1/density, whose merge is then the base's tensor (mergekit stops with an assertion there).
  if (method_trims_by_count(mo.method)) {
    std::vector<std::string> none;
    for (const auto& [name, who] : plan.contributors)
      for (int i : who) {
        const double density = job.params[i].density;
        if (density < 1 && static_cast<int64_t>(density * static_cast<double>(shape_numel(ref.info(name).shape))) == 0) {
          none.push_back(name);
          break;
        }
      }
    if (!none.empty()) {
      std::string list;
      for (size_t k = 0; k < none.size() && k < 5; ++k) list += (k ? ", " : "") + none[k];
      if (none.size() > 5) list += ", ...";
      log::warn("{}: density x size < 1 in {} tensor(s), which keep no entry of that task vector and stay the base's ({})",
                mo.method, none.size(), list);
    }
  }

  // --device cuda: tensors are decoded to float32 on the GPU and merged there; selections (quantiles,
  // top-k thresholds) and random masks are computed on the CPU, so a seed gives the same masks.
  const c10::Device device = parse_device(job.device);
  auto load = [&](const TensorReader& r, const std::string& name) { return read_tensor_to(r, name, device, DType::F32); };
  auto task_matrix = [&](const std::string& name, torch::Tensor& b) {
    b = load(ref, name);
    std::vector<torch::Tensor> rows;
    for (auto& m : models) rows.push_back((load(*m, name) - b).flatten());
    return torch::stack(rows);
  };

  // Global PCB: statistics over all merged parameters of each task. In memory when the n x d task
  // matrix (and beta beside it) fits the budget; otherwise streamed, with exact radix selection, in
  // four reading passes. Both give the same statistics, hence the same bytes.
  PcbStats global;
  std::string stats_mode;
  std::map<std::string, torch::Tensor> global_cache;
  if (global_pcb) {
    int64_t d = 0;
    for (const auto& [name, who] : plan.contributors) d += static_cast<int64_t>(shape_numel(ref.info(name).shape));
    const int64_t n = static_cast<int64_t>(models.size());
    // In memory: the task vectors of every tensor are kept after the first read (n d floats); else
    // each pass reads the inputs again. Either way the statistics come from the same selection.
    const uint64_t need = static_cast<uint64_t>(n) * static_cast<uint64_t>(d) * 4ull;
    const bool cache = need <= job.memory_budget;
    stats_mode = cache ? "in-memory" : "streaming";
    std::map<std::string, torch::Tensor> cached;
    auto each_tau = [&](const std::function<void(const torch::Tensor&)>& f) {
      for (const auto& [name, who] : plan.contributors) {
        check_stop();
        auto it = cached.find(name);
        if (it != cached.end()) {
          f(it->second);
          continue;
        }
        torch::Tensor b;
        torch::Tensor t = task_matrix(name, b);
        if (cache) cached[name] = t;
        f(t);
      }
    };
    auto feed = [&](const torch::Tensor& m, const RowSink& sink) {
      torch::Tensor c = m.to(torch::kCPU).contiguous();
      for (int64_t r = 0; r < n; ++r) sink(r, c.data_ptr<float>() + r * c.size(1), c.size(1));
    };
    if (mo.pcb.clamp) {
      std::vector<std::vector<int64_t>> ranks(n, {lower_index(d, mo.pcb.clamp_lo), upper_index(d, mo.pcb.clamp_hi)});
      auto q = select_ranks(n, ranks, [&](const RowSink& sink) { each_tau([&](const torch::Tensor& t) { feed(t.abs(), sink); }); });
      for (int64_t r = 0; r < n; ++r) {
        global.lo.push_back(q[r][0]);
        global.hi.push_back(q[r][1]);
      }
    } else {
      global.lo.assign(n, INFINITY);
      global.hi.assign(n, -INFINITY);
      each_tau([&](const torch::Tensor& t) {
        torch::Tensor a = t.abs();
        for (int64_t r = 0; r < n; ++r) {
          global.lo[r] = std::min(global.lo[r], a[r].min().item<float>());
          global.hi[r] = std::max(global.hi[r], a[r].max().item<float>());
        }
      });
    }
    std::vector<std::vector<int64_t>> ranks(n, {lower_index(d, 1.0 - mo.pcb.ratio)});
    auto q = select_ranks(
        n, ranks, [&](const RowSink& sink) { each_tau([&](const torch::Tensor& t) { feed(pcb_beta(t, mo.pcb, global), sink); }); },
        &global.beta_max);
    for (int64_t r = 0; r < n; ++r) global.thr.push_back(q[r][0]);
    // The merge pass below reads again; the cached task vectors serve it too.
    global_cache = std::move(cached);
    log::info("global PCB statistics ({}) over {} parameters x {} models", stats_mode, d, n);
  }

  // fill runs on several threads at once: everything it shares is read-only, atomic or locked.
  std::atomic<int64_t> merged{0};
  std::mutex cache_mutex;
  const bool linear = method_is_linear_mix(mo.method) && device.is_cpu();
  const bool gta = method_is_gta(mo.method) && device.is_cpu();
  FillFn fill = [&](const TensorRecord& r, void* dst) {
    check_stop();
    const TensorInfo& bi = ref.info(r.name);
    if (plan.copied.count(r.name)) {
      ref.read_as(bi, r.dtype, dst);
      return;
    }
    const auto& who = plan.contributors.at(r.name);
    if (linear) {
      // Streaming fast path: inputs read into buffers this thread reuses, mixed straight into the
      // output (no LibTorch temporaries, no fresh pages per tensor).
      thread_local std::vector<std::vector<float>> bufs;
      const size_t count = shape_numel(r.shape);
      if (bufs.size() < who.size() + 2) bufs.resize(who.size() + 2);
      std::vector<std::pair<const uint8_t*, size_t>> views;
      auto input = [&](const TensorReader& rd, size_t slot) {
        const TensorInfo& ti = rd.info(r.name);
        if (const uint8_t* p = rd.mapped(ti); p && ti.dtype == DType::F32 && reinterpret_cast<uintptr_t>(p) % 4 == 0) {
          views.emplace_back(p, ti.nbytes());
          return reinterpret_cast<const float*>(p);
        }
        bufs[slot].resize(count);
        rd.read_as(rd.info(r.name), DType::F32, bufs[slot].data());
        return static_cast<const float*>(bufs[slot].data());
      };
      std::vector<const float*> xs;
      std::vector<ModelParams> ps;
      for (size_t k = 0; k < who.size(); ++k) {
        xs.push_back(input(*models[who[k]], k));
        ps.push_back(job.params[who[k]]);
      }
      const float* b = mo.method == "linear" ? nullptr : input(ref, who.size());
      float* out = r.dtype == DType::F32 ? static_cast<float*>(dst) : nullptr;
      if (!out) {
        bufs[who.size() + 1].resize(count);
        out = bufs[who.size() + 1].data();
      }
      const LinearMix mix = linear_mix(mo, ps);
      mix_linear(b, xs, mix.w, mix.lambda, mix.divisor, static_cast<int64_t>(count), out);
      if (r.dtype != DType::F32) convert_dtype(out, DType::F32, dst, r.dtype, count);
      for (auto [p, len] : views) {
        const long page = 4096;
        uintptr_t a = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page, e = (reinterpret_cast<uintptr_t>(p) + len) / page * page;
        if (e > a) ::madvise(reinterpret_cast<void*>(a), e - a, MADV_DONTNEED);
      }
      ++merged;
      return;
    }
    if (gta) {
      // Sparsifying methods: the inputs read into this thread's buffers (n + 3 tensors, reused), the
      // merge written into the output buffer.
      thread_local GtaBuffers gbuf;
      thread_local std::vector<float> base_buf, out_buf;
      const int64_t count = static_cast<int64_t>(shape_numel(r.shape));
      if (base_buf.size() < static_cast<size_t>(count)) base_buf.resize(static_cast<size_t>(count));
      ref.read_as(bi, DType::F32, base_buf.data());
      std::vector<ModelParams> ps;
      for (size_t k = 0; k < who.size(); ++k) {
        const TensorReader& rd = *models[who[k]];
        rd.read_as(rd.info(r.name), DType::F32, gbuf.row(k, who.size(), count));
        ps.push_back(job.params[who[k]]);
      }
      float* out = r.dtype == DType::F32 ? static_cast<float*>(dst) : nullptr;
      if (!out) {
        if (out_buf.size() < static_cast<size_t>(count)) out_buf.resize(static_cast<size_t>(count));
        out = out_buf.data();
      }
      torch::Generator gen = at::detail::createCPUGenerator(job.seed ^ name_hash(r.name));
      merge_gta(mo, base_buf.data(), ps, r.shape, gen, gbuf, out);
      if (r.dtype != DType::F32) convert_dtype(out, DType::F32, dst, r.dtype, static_cast<size_t>(count));
      ++merged;
      return;
    }
    torch::Tensor out;
    if (global_pcb) {
      torch::Tensor b, tau;
      {
        std::unique_lock<std::mutex> lock(cache_mutex);
        auto it = global_cache.find(r.name);
        if (it != global_cache.end()) {
          tau = it->second;
          global_cache.erase(it);  // each cached tensor is used once more, then freed
        }
      }
      if (tau.defined()) b = load(ref, r.name);
      else tau = task_matrix(r.name, b);
      out = b + pcb_apply(tau, mo.pcb, global).reshape(b.sizes());
    } else {
      torch::Tensor b = base ? load(*base, r.name) : torch::Tensor();
      std::vector<torch::Tensor> xs;
      std::vector<ModelParams> ps;
      MethodOptions local = mo;
      if (mo.method == "pcb" && !mo.pcb.lambdas.empty()) local.pcb.lambdas.clear();
      for (int i : who) {
        xs.push_back(load(*models[i], r.name));
        ps.push_back(job.params[i]);
        if (mo.method == "pcb" && !mo.pcb.lambdas.empty()) local.pcb.lambdas.push_back(mo.pcb.lambdas[i]);
      }
      torch::Generator gen = at::detail::createCPUGenerator(job.seed ^ name_hash(r.name));
      out = merge_tensor(local, b, xs, ps, gen);
    }
    ++merged;
    torch::Tensor f = out.to(torch::kCPU, torch::kFloat32).contiguous();
    convert_dtype(f.data_ptr(), DType::F32, dst, r.dtype, static_cast<size_t>(f.numel()));
  };

  Metadata meta = provenance_metadata();
  meta["merge_method"] = mo.method;
  StoreFormat fmt = format_for_path(job.out);
  WriteOptions wo;
  wo.shard_size = job.out_shard_size;
  // Side files (config.json, tokenizer files) from the base, or without one from the first model (as
  // mergekit takes the config of its first model), in the same atomic folder swap as the weights, so a
  // folder output loads as a Hugging Face model. A merge is stopped by SIGTERM with nothing left behind.
  wo.side_files_from = job.base.empty() ? job.models[0] : job.base;
  wo.interruptible = true;
  WriteResult written;
  // Tensors in parallel, each single-threaded inside (LibTorch's intra-op threads would compete);
  // worker threads take LibTorch's thread count when they first use it, so set it before they start.
  const int saved_threads = at::get_num_threads();
  wo.fill_threads = !device.is_cpu() ? 1 : job.threads > 0 ? job.threads : saved_threads;
  if (wo.fill_threads > 1 && plan.records.size() < 2 * static_cast<size_t>(wo.fill_threads)) wo.fill_threads = 1;
  if (wo.fill_threads > 1) at::set_num_threads(1);
  try {
    written = write_tensors(job.out, fmt, plan.records, fill, meta, wo);
  } catch (...) {
    at::set_num_threads(saved_threads);
    throw;
  }
  at::set_num_threads(saved_threads);

  MergeResult result;
  result.copied_files = written.copied_files;
  if (plan.missing > 0) log::warn("{} (model, tensor) pairs were missing and did not contribute", plan.missing);
  result.method = mo.method;
  result.tensors = plan.records.size();
  result.merged = merged.load();
  result.copied = plan.copied.size();
  result.excluded = plan.excluded.size();
  result.merge_threads = wo.fill_threads;
  result.missing_pairs = plan.missing;
  if (mo.method == "pcb") result.pcb_scope = job.pcb_scope;
  result.pcb_statistics = stats_mode;
  return result;
}

}  // namespace paramkit::merge
