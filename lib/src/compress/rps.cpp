#include "paramkit/compress/rps.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "paramkit/core/error.h"
#include "paramkit/core/rng.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/tensor_store.h"
#include "paramkit/torch/state_dict.h"

#ifdef PARAMKIT_HAVE_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "paramkit/kernels/shared.h"
#endif

namespace paramkit::compress {

Mapper parse_mapper(const std::string& name, const std::string& flag) {
  if (name == "hashednet") return Mapper::hashednet;
  if (name == "roast") return Mapper::roast;
  if (name == "rps") return Mapper::rps;
  throw UsageError(flag + ": expected hashednet, roast or rps, got '" + name + "'");
}

const char* mapper_name(Mapper m) { return m == Mapper::hashednet ? "hashednet" : m == Mapper::roast ? "roast" : "rps"; }

namespace {
// SplitMix64's finaliser: a well-mixed 64-bit hash of a 64-bit key.
inline uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}
inline uint64_t hash3(uint64_t seed, uint64_t a, uint64_t b) { return mix(mix(mix(seed) ^ a) ^ b); }
constexpr uint64_t kPrime = 2038074743ULL;  // HashedNet's P
}  // namespace

bool is_shared_weight(const std::string& name, const torch::Tensor& p) {
  const std::string tail = "weight";
  return p.dim() >= 2 && name.size() >= tail.size() && name.compare(name.size() - tail.size(), tail.size(), tail) == 0;
}

std::vector<LayerMap> build_maps(Mapper mapper, const std::vector<std::pair<std::string, std::vector<int64_t>>>& weights, int64_t m,
                                 uint64_t seed, int64_t block) {
  if (m < 1 || m > INT32_MAX) throw UsageError(fmt::format("the shared array needs 1 to {} slots, got {}", INT32_MAX, m));
  if (block < 1) throw UsageError("the ROAST block side must be positive");
  std::vector<LayerMap> maps;
  int64_t loc = 0;  // position in the global flattening (rps)
  for (size_t l = 0; l < weights.size(); ++l) {
    check_stop();
    LayerMap lm;
    lm.name = weights[l].first;
    lm.shape = weights[l].second;
    int64_t n = 1;
    for (int64_t s : lm.shape) n *= s;
    lm.slot.resize(static_cast<size_t>(n));
    lm.sign.resize(static_cast<size_t>(n));
    const uint64_t layer_key = static_cast<uint64_t>(l) + 1;
    for (int64_t k = 0; k < n; ++k) lm.sign[k] = (hash3(seed ^ 0x5167ULL, layer_key, static_cast<uint64_t>(k)) & 1) ? 1 : -1;
    switch (mapper) {
      case Mapper::hashednet: {
        Rng rng(seed, 100 + l);
        const uint64_t a = 1 + rng.below(kPrime - 1), b = rng.below(kPrime), c = rng.below(kPrime);
        for (int64_t k = 0; k < n; ++k) {
          const unsigned __int128 kk = static_cast<uint64_t>(k) % kPrime;
          const unsigned __int128 h = (a * kk + b * ((kk * kk) % kPrime) + c) % kPrime;
          lm.slot[k] = static_cast<int32_t>(static_cast<uint64_t>(h) % static_cast<uint64_t>(m));
        }
        break;
      }
      case Mapper::roast: {
        const int64_t rows = lm.shape[0], cols = n / rows, B = block;
        const int64_t span = B * B < m ? m - B * B + 1 : m;  // block starts keep the block inside z when it fits
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t c = 0; c < cols; ++c) {
            const uint64_t start = hash3(seed ^ 0x2057ULL, layer_key, (static_cast<uint64_t>(r / B) << 32) ^ static_cast<uint64_t>(c / B)) %
                                   static_cast<uint64_t>(span);
            lm.slot[r * cols + c] = static_cast<int32_t>((start + static_cast<uint64_t>((r % B) * B + c % B)) % static_cast<uint64_t>(m));
          }
        break;
      }
      case Mapper::rps: {
        for (int64_t k = 0; k < n; ++k, ++loc) {
          const int64_t chunk = loc / m, offset = loc % m;
          const uint64_t h = hash3(seed ^ 0x3F0DULL, 0, static_cast<uint64_t>(chunk)) % static_cast<uint64_t>(m);
          lm.slot[k] = static_cast<int32_t>((h + static_cast<uint64_t>(offset)) % static_cast<uint64_t>(m));
        }
        break;
      }
    }
    maps.push_back(std::move(lm));
  }
  return maps;
}

SharedWeights::SharedWeights(torch::nn::Module& module, const ShareSpec& spec) : spec_(spec) {
  if (!(spec.compression > 0 && spec.compression <= 1))
    throw UsageError(fmt::format("--compression: expected a fraction in (0, 1], got {}", spec.compression));
  if (!(spec.init_std > 0 && std::isfinite(spec.init_std))) throw UsageError("--init-std: expected a positive number");
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
  for (const auto& p : module.named_parameters()) {
    if (is_shared_weight(p.key(), p.value())) {
      shared_params_.emplace_back(p.key(), p.value());
      shapes.emplace_back(p.key(), p.value().sizes().vec());
      shared_ += p.value().numel();
    } else {
      dense_params_.emplace_back(p.key(), p.value());
    }
  }
  for (const auto& b : module.named_buffers()) {
    buffers_.emplace_back(nn::checkpoint_name(b.key()), b.value());
    buffer_paths_.emplace_back(b.key(), b.value());
  }
  if (shared_ == 0) throw UsageError("the model has no weight matrices or kernels to share");
  const int64_t m = std::max<int64_t>(1, std::llround(spec.compression * static_cast<double>(shared_)));
  maps_ = build_maps(spec.mapper, shapes, m, spec.seed, spec.block);
  for (size_t l = 0; l < maps_.size(); ++l) {
    const double sd = shared_params_[l].second.detach().to(torch::kFloat64).std(false).item<double>();
    maps_[l].scale = static_cast<float>((sd > 0 && std::isfinite(sd) ? sd : 1.0) / spec.init_std);
  }
  // z ~ N(0, init_std^2) from the project's generator
  z_ = torch::empty({m}, torch::kFloat32);
  Rng rng(spec.seed, 7);
  float* zp = z_.data_ptr<float>();
  for (int64_t j = 0; j < m; ++j) zp[j] = static_cast<float>(spec.init_std * rng.normal());
  z_ = z_.to(shared_params_[0].second.device()).requires_grad_(true);
  // by slot, by counting sort
  slot_start_.assign(static_cast<size_t>(m) + 1, 0);
  for (const auto& lm : maps_)
    for (int32_t s : lm.slot) ++slot_start_[s + 1];
  for (int64_t j = 0; j < m; ++j) slot_start_[j + 1] += slot_start_[j];
  std::vector<int64_t> next(slot_start_.begin(), slot_start_.end() - 1);
  slot_layer_.resize(static_cast<size_t>(shared_));
  slot_element_.resize(static_cast<size_t>(shared_));
  slot_coef_.resize(static_cast<size_t>(shared_));
  std::vector<double> scale_sum(static_cast<size_t>(m), 0.0);
  for (size_t l = 0; l < maps_.size(); ++l) {
    const LayerMap& lm = maps_[l];
    for (size_t k = 0; k < lm.slot.size(); ++k) {
      const int64_t at = next[lm.slot[k]]++;
      slot_layer_[at] = static_cast<int32_t>(l);
      slot_element_[at] = static_cast<int64_t>(k);
      slot_coef_[at] = lm.scale * lm.sign[k];
      scale_sum[lm.slot[k]] += lm.scale;
    }
  }
  // Runs of consecutive slots for the gather, where they are long enough to pay (not HashedNet's).
  for (const LayerMap& lm : maps_) {
    std::vector<Run> runs;
    const int64_t n = static_cast<int64_t>(lm.slot.size());
    for (int64_t k = 0; k < n;) {
      int64_t e = k + 1;
      while (e < n && e - k < 4096 && lm.slot[e] == lm.slot[e - 1] + 1) ++e;
      runs.push_back({k, lm.slot[k], static_cast<int32_t>(e - k)});
      k = e;
    }
    if (static_cast<int64_t>(runs.size()) * 8 > n) runs.clear();  // mostly single slots: gather them one by one
    runs_.push_back(std::move(runs));
  }
  // The same runs cut into fixed slot ranges for the backward pass, when every layer has runs.
  bool all_runs = true;
  for (const auto& r : runs_) all_runs = all_runs && !r.empty();
  if (all_runs) {
    const int64_t ranges = std::min<int64_t>(64, m);
    pieces_.resize(static_cast<size_t>(ranges));
    for (size_t l = 0; l < runs_.size(); ++l)
      for (const Run& run : runs_[l]) {
        int64_t s0 = run.slot, k = run.k, left = run.length;
        while (left > 0) {
          // range r holds slots [r m / R, (r + 1) m / R)
          int64_t range = s0 * ranges / m;
          while ((range + 1) * m / ranges <= s0) ++range;
          while (range > 0 && range * m / ranges > s0) --range;
          const int64_t end = (range + 1) * m / ranges;
          const int64_t len = std::min(left, end - s0);
          pieces_[range].push_back({static_cast<int32_t>(l), static_cast<int32_t>(len), k, s0});
          s0 += len, k += len, left -= len;
        }
      }
  }
  scaler_.assign(static_cast<size_t>(m), 1.0f);
  if (spec.grad_scaler)
    for (int64_t j = 0; j < m; ++j) {
      const int64_t count = slot_start_[j + 1] - slot_start_[j];
      if (count > 0) scaler_[j] = static_cast<float>(static_cast<double>(count) / (scale_sum[j] * scale_sum[j]));
    }
}

int64_t SharedWeights::dense_count() const {
  int64_t n = 0;
  for (const auto& p : dense_params_) n += p.second.numel();
  return n;
}

std::vector<std::pair<std::string, torch::Tensor>> SharedWeights::trainable() {
  std::vector<std::pair<std::string, torch::Tensor>> t = {{"z", z_}};
  for (const auto& [name, p] : dense_params_) t.emplace_back(nn::checkpoint_name(name), p);
  return t;
}

std::vector<std::pair<std::string, torch::Tensor>> SharedWeights::state() { return buffers_; }

void SharedWeights::load() {
  torch::NoGradGuard no_grad;
#ifdef PARAMKIT_HAVE_CUDA
  if (z_.device().is_cuda()) {
    prepare_device();
    c10::cuda::CUDAGuard guard(z_.device());
    void* stream = at::cuda::getCurrentCUDAStream().stream();
    for (size_t l = 0; l < maps_.size(); ++l) {
      torch::Tensor& p = shared_params_[l].second;
      TORCH_CHECK(p.is_contiguous() && p.scalar_type() == torch::kFloat32, "shared weights on the GPU must be contiguous float32");
      kernels::shared_gather(z_.data_ptr<float>(), device_slot_[l].data_ptr<int32_t>(), device_sign_[l].data_ptr<int8_t>(), maps_[l].scale,
                             p.data_ptr<float>(), p.numel(), stream);
    }
    return;
  }
#endif
  const torch::Tensor z = z_.detach().to(torch::kCPU).contiguous();
  const float* zp = z.data_ptr<float>();
  for (size_t l = 0; l < maps_.size(); ++l) {
    const LayerMap& lm = maps_[l];
    torch::Tensor& p = shared_params_[l].second;
    const bool on_cpu = p.device().is_cpu() && p.scalar_type() == torch::kFloat32 && p.is_contiguous();
    torch::Tensor w = on_cpu ? p : torch::empty(p.sizes(), torch::kFloat32);
    float* wp = w.data_ptr<float>();
    const int32_t* slot = lm.slot.data();
    const int8_t* sign = lm.sign.data();
    const float scale = lm.scale;
    const std::vector<Run>& runs = runs_[l];
    if (!runs.empty()) {
      // runs of consecutive slots (ROAST's block rows, RANDOMFOLD's folds): one contiguous,
      // vectorisable copy each, no slot reads
      at::parallel_for(0, static_cast<int64_t>(runs.size()), 256, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const Run& run = runs[r];
          const float* zr = zp + run.slot;
          float* wr = wp + run.k;
          const int8_t* sr = sign + run.k;
          for (int32_t j = 0; j < run.length; ++j) wr[j] = scale * static_cast<float>(sr[j]) * zr[j];
        }
      });
    } else {
      at::parallel_for(0, static_cast<int64_t>(lm.slot.size()), 16384, [&](int64_t k0, int64_t k1) {
        for (int64_t k = k0; k < k1; ++k) wp[k] = scale * sign[k] * zp[slot[k]];
      });
    }
    if (!on_cpu) p.copy_(w);
  }
}

void SharedWeights::backward() {
#ifdef PARAMKIT_HAVE_CUDA
  if (z_.device().is_cuda()) {
    prepare_device();
    c10::cuda::CUDAGuard guard(z_.device());
    void* stream = at::cuda::getCurrentCUDAStream().stream();
    torch::Tensor zg = torch::zeros_like(z_.detach());
    for (size_t l = 0; l < maps_.size(); ++l) {
      torch::Tensor& p = shared_params_[l].second;
      if (!p.grad().defined()) continue;
      const torch::Tensor g = p.grad().detach().to(torch::kFloat32).contiguous();
      kernels::shared_scatter_add(g.data_ptr<float>(), device_slot_[l].data_ptr<int32_t>(), device_sign_[l].data_ptr<int8_t>(), maps_[l].scale,
                                  zg.data_ptr<float>(), g.numel(), stream);
    }
    if (spec_.grad_scaler) kernels::scale_by(zg.data_ptr<float>(), device_scaler_.data_ptr<float>(), zg.numel(), stream);
    finish_backward(zg);
    return;
  }
#endif
  std::vector<torch::Tensor> grads;
  std::vector<const float*> gp;
  for (auto& [name, p] : shared_params_) {
    torch::Tensor g = p.grad().defined() ? p.grad().detach().to(torch::kCPU, torch::kFloat32).contiguous() : torch::zeros({p.numel()});
    grads.push_back(g);
    gp.push_back(g.data_ptr<float>());
  }
  const int64_t m = z_.numel();
  torch::Tensor zg = torch::empty({m}, torch::kFloat32);
  float* out = zg.data_ptr<float>();
  if (!pieces_.empty()) {
    // runs of consecutive slots, cut at fixed slot ranges: each range is one thread's, so the
    // contiguous adds never collide, and the order of the adds is the same for any thread count
    std::fill(out, out + m, 0.0f);
    at::parallel_for(0, static_cast<int64_t>(pieces_.size()), 1, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        for (const Piece& pc : pieces_[r]) {
          const float scale = maps_[pc.layer].scale;
          const float* g = gp[pc.layer] + pc.k;
          const int8_t* sg = maps_[pc.layer].sign.data() + pc.k;
          float* o = out + pc.slot;
          for (int32_t j = 0; j < pc.length; ++j) o[j] += scale * static_cast<float>(sg[j]) * g[j];
        }
    });
    for (int64_t j = 0; j < m; ++j) out[j] *= scaler_[j];
  } else {
    at::parallel_for(0, m, 4096, [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j) {
        float acc = 0;
        for (int64_t e = slot_start_[j]; e < slot_start_[j + 1]; ++e) acc += slot_coef_[e] * gp[slot_layer_[e]][slot_element_[e]];
        out[j] = acc * scaler_[j];
      }
    });
  }
  finish_backward(zg.to(z_.device()));
}

void SharedWeights::finish_backward(const torch::Tensor& zg) {
  if (z_.grad().defined())
    z_.mutable_grad().add_(zg);
  else
    z_.mutable_grad() = zg;
  for (auto& [name, p] : shared_params_)
    if (p.grad().defined()) p.mutable_grad().reset();
}

void SharedWeights::prepare_device() {
  if (!device_slot_.empty() && device_slot_[0].device() == z_.device()) return;
  device_slot_.clear();
  device_sign_.clear();
  for (const LayerMap& lm : maps_) {
    const int64_t n = static_cast<int64_t>(lm.slot.size());
    device_slot_.push_back(torch::from_blob(const_cast<int32_t*>(lm.slot.data()), {n}, torch::kInt32).to(z_.device()));
    device_sign_.push_back(torch::from_blob(const_cast<int8_t*>(lm.sign.data()), {n}, torch::kInt8).to(z_.device()));
  }
  device_scaler_ = torch::from_blob(scaler_.data(), {static_cast<int64_t>(scaler_.size())}, torch::kFloat32).to(z_.device());
}

torch::Tensor SharedWeights::materialize() const {
  torch::Tensor M = torch::zeros({shared_, z_.numel()}, torch::kFloat32);
  auto a = M.accessor<float, 2>();
  int64_t base = 0;
  for (const LayerMap& lm : maps_) {
    for (size_t k = 0; k < lm.slot.size(); ++k) a[base + static_cast<int64_t>(k)][lm.slot[k]] += lm.scale * lm.sign[k];
    base += static_cast<int64_t>(lm.slot.size());
  }
  return M;
}

namespace {
const char* kKey = "paramkit.rps";
}

void save_compressed(const std::string& path, const SharedWeights& shared, const nn::ModelSpec& model, Metadata metadata) {
  nlohmann::json weights = nlohmann::json::array();
  for (const LayerMap& lm : shared.maps()) weights.push_back({{"name", lm.name}, {"shape", lm.shape}, {"scale", lm.scale}});
  const ShareSpec& sp = shared.spec();
  metadata[kKey] = nlohmann::json({{"format", 1},
                                   {"model", nn::to_json(model)},
                                   {"mapper", mapper_name(sp.mapper)},
                                   {"slots", shared.slots()},
                                   {"seed", sp.seed},
                                   {"block", sp.block},
                                   {"weights", weights}})
                       .dump();
  std::vector<std::pair<std::string, torch::Tensor>> tensors = {{"z", const_cast<SharedWeights&>(shared).z().detach().to(torch::kCPU).contiguous()}};
  for (const auto& [name, t] : shared.dense_parameters()) tensors.emplace_back(name, t.detach().to(torch::kCPU).contiguous());
  for (const auto& [name, t] : shared.buffers()) tensors.emplace_back(name, t.detach().to(torch::kCPU).contiguous());
  save_tensors(path, tensors, metadata);
}

std::shared_ptr<torch::nn::Module> expand_compressed(const std::string& path, nn::ModelSpec& model,
                                                     std::function<torch::Tensor(torch::Tensor)>& forward) {
  auto reader = open_tensors(path);
  auto it = reader->metadata().find(kKey);
  if (it == reader->metadata().end()) throw InputError(path, std::string("__metadata__.") + kKey, "missing (not a model written by rps-compress train --save)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(it->second);
  } catch (const std::exception&) {
    throw InputError(path, kKey, "not valid JSON");
  }
  auto field = [&](const char* key) -> const nlohmann::json& {
    if (!j.is_object() || !j.contains(key)) throw InputError(path, std::string(kKey) + "." + key, "missing");
    return j.at(key);
  };
  model = nn::model_spec_from_json(field("model"), path);
  if (!field("mapper").is_string()) throw InputError(path, std::string(kKey) + ".mapper", "expected hashednet, roast or rps");
  const Mapper mapper = parse_mapper(field("mapper").get<std::string>(), path + ": mapper");
  if (!field("slots").is_number_integer() || field("slots").get<int64_t>() < 1) throw InputError(path, std::string(kKey) + ".slots", "expected a positive integer");
  if (!field("seed").is_number_unsigned()) throw InputError(path, std::string(kKey) + ".seed", "expected a non-negative integer");
  if (!field("block").is_number_integer() || field("block").get<int64_t>() < 1) throw InputError(path, std::string(kKey) + ".block", "expected a positive integer");
  const int64_t m = field("slots").get<int64_t>();
  auto module = nn::build_model(model, 0, forward);
  std::map<std::string, torch::Tensor> params;
  for (const auto& p : module->named_parameters()) params[p.key()] = p.value();
  const auto& ws = field("weights");
  if (!ws.is_array()) throw InputError(path, std::string(kKey) + ".weights", "expected a list");
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
  std::vector<float> scales;
  std::set<std::string> shared_names;
  for (const auto& w : ws) {
    if (!w.is_object() || !w.contains("name") || !w["name"].is_string() || !w.contains("scale") || !w["scale"].is_number())
      throw InputError(path, std::string(kKey) + ".weights", "each entry needs a name and a scale");
    const std::string name = w["name"].get<std::string>();
    auto p = params.find(name);
    if (p == params.end() || !is_shared_weight(name, p->second))
      throw InputError(path, std::string(kKey) + ".weights", "'" + name + "' is not a weight matrix of the model");
    shapes.emplace_back(name, p->second.sizes().vec());
    scales.push_back(w["scale"].get<float>());
    shared_names.insert(name);
  }
  for (const auto& [name, p] : params)
    if (is_shared_weight(name, p) && !shared_names.count(name)) throw InputError(path, std::string(kKey) + ".weights", "'" + name + "' is missing");
  if (!reader->contains("z")) throw InputError(path, "z", "missing tensor");
  const torch::Tensor z = read_tensor(*reader, "z", DType::F32);
  if (z.dim() != 1 || z.numel() != m) throw InputError(path, "z", fmt::format("expected {} values (slots), got {}", m, z.numel()));
  if (!torch::isfinite(z).all().item<bool>()) throw InputError(path, "z", "non-finite values");
  const auto maps = build_maps(mapper, shapes, m, field("seed").get<uint64_t>(), field("block").get<int64_t>());
  torch::NoGradGuard no_grad;
  const float* zp = z.data_ptr<float>();
  for (size_t l = 0; l < maps.size(); ++l) {
    torch::Tensor w = torch::empty(params[maps[l].name].sizes(), torch::kFloat32);
    float* wp = w.data_ptr<float>();
    for (size_t k = 0; k < maps[l].slot.size(); ++k) wp[k] = scales[l] * maps[l].sign[k] * zp[maps[l].slot[k]];
    params[maps[l].name].copy_(w);
  }
  // the rest by name: parameters outside z and buffers
  for (const auto& p : module->named_parameters()) {
    if (shared_names.count(p.key())) continue;
    if (!reader->contains(p.key())) throw InputError(path, p.key(), "missing tensor");
    const torch::Tensor t = read_tensor(*reader, p.key(), DType::F32);
    if (!t.sizes().equals(p.value().sizes())) throw InputError(path, p.key(), "shape differs from the model's");
    p.value().copy_(t);
  }
  for (const auto& b : module->named_buffers()) {
    if (!reader->contains(b.key())) throw InputError(path, b.key(), "missing tensor");
    const torch::Tensor t = read_tensor(*reader, b.key());
    if (!t.sizes().equals(b.value().sizes())) throw InputError(path, b.key(), "shape differs from the model's");
    b.value().copy_(t);
  }
  return module;
}

}  // namespace paramkit::compress
