// LibTorch tensors and module state dicts to/from tensor stores.
#include "paramkit/torch/state_dict.h"

#include <algorithm>
#include <map>

#include <sys/mman.h>

#include "paramkit/core/error.h"

#ifdef PARAMKIT_HAVE_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "paramkit/kernels/decode.h"
#endif

namespace paramkit {

c10::ScalarType to_torch_dtype(DType t) {
  switch (t) {
    case DType::BOOL: return torch::kBool;
    case DType::U8: return torch::kUInt8;
    case DType::I8: return torch::kInt8;
    case DType::I16: return torch::kInt16;
    case DType::I32: return torch::kInt32;
    case DType::I64: return torch::kInt64;
    case DType::F16: return torch::kFloat16;
    case DType::BF16: return torch::kBFloat16;
    case DType::F32: return torch::kFloat32;
    case DType::F64: return torch::kFloat64;
    default: break;
  }
  throw UsageError("dtype " + std::string(dtype_name(t)) + " has no LibTorch equivalent here; convert it (e.g. to F32)");
}

DType from_torch_dtype(c10::ScalarType t) {
  switch (t) {
    case torch::kBool: return DType::BOOL;
    case torch::kUInt8: return DType::U8;
    case torch::kInt8: return DType::I8;
    case torch::kInt16: return DType::I16;
    case torch::kInt32: return DType::I32;
    case torch::kInt64: return DType::I64;
    case torch::kFloat16: return DType::F16;
    case torch::kBFloat16: return DType::BF16;
    case torch::kFloat32: return DType::F32;
    case torch::kFloat64: return DType::F64;
    default: break;
  }
  throw UsageError(std::string("LibTorch dtype ") + c10::toString(t) + " cannot be stored");
}

torch::Tensor read_tensor(const TensorReader& reader, const std::string& name, std::optional<DType> convert_to) {
  const TensorInfo& t = reader.info(name);
  DType target = convert_to.value_or(t.dtype);
  torch::Tensor out = torch::empty(t.shape, torch::TensorOptions().dtype(to_torch_dtype(target)));
  if (out.numel() == 0) return out;
#ifdef MADV_HUGEPAGE
  // Large fresh buffers: ask for transparent huge pages, 512x fewer page faults while filling them.
  const uint64_t bytes = out.nbytes();
  if (bytes >= (8u << 20)) {
    const uintptr_t huge = 2u << 20, p = reinterpret_cast<uintptr_t>(out.data_ptr());
    const uintptr_t a = (p + huge - 1) & ~(huge - 1), b = (p + bytes) & ~(huge - 1);
    if (b > a) ::madvise(reinterpret_cast<void*>(a), b - a, MADV_HUGEPAGE);
  }
#endif
  reader.read_as(t, target, out.data_ptr());
  return out;
}

#ifdef PARAMKIT_HAVE_CUDA
namespace {
// The GPU decoder's format for a stored dtype, if it has one.
inline std::optional<kernels::SmallFloat> gpu_decodable(DType t) {
  switch (t) {
    case DType::F16: return kernels::SmallFloat::f16;
    case DType::BF16: return kernels::SmallFloat::bf16;
    case DType::F8_E4M3: return kernels::SmallFloat::f8_e4m3;
    case DType::F8_E5M2: return kernels::SmallFloat::f8_e5m2;
    default: return std::nullopt;
  }
}
}  // namespace
#endif

torch::Tensor read_tensor_to(const TensorReader& reader, const std::string& name, c10::Device device,
                             std::optional<DType> convert_to) {
  const TensorInfo& t = reader.info(name);
#ifdef PARAMKIT_HAVE_CUDA
  const std::optional<kernels::SmallFloat> gpu_format = gpu_decodable(t.dtype);
  if (device.is_cuda() && convert_to == DType::F32 && gpu_format && t.numel() > 0) {
    torch::Tensor raw = torch::empty({static_cast<int64_t>(t.nbytes())}, torch::TensorOptions().dtype(torch::kUInt8).pinned_memory(true));
    reader.read(t, raw.data_ptr());
    torch::Tensor raw_dev = raw.to(device, /*non_blocking=*/true);
    torch::Tensor out = torch::empty(t.shape, torch::TensorOptions().dtype(torch::kFloat32).device(device));
    c10::cuda::CUDAGuard guard(device);
    kernels::decode_to_f32(raw_dev.data_ptr(), *gpu_format, out.data_ptr<float>(), static_cast<int64_t>(t.numel()),
                           at::cuda::getCurrentCUDAStream().stream());
    return out;
  }
#endif
  return read_tensor(reader, name, convert_to).to(device);
}

torch::Tensor view_tensor(const std::shared_ptr<const TensorReader>& reader, const std::string& name) {
  const TensorInfo& t = reader->info(name);
  const uint8_t* p = reader->mapped(t);
  const size_t align = dtype_size(t.dtype);
  bool torch_type = true;
  try {
    to_torch_dtype(t.dtype);
  } catch (const UsageError&) {
    torch_type = false;
  }
  if (!p || !torch_type || t.numel() == 0 || reinterpret_cast<uintptr_t>(p) % align != 0) return read_tensor(*reader, name);
  auto keep = reader;  // the deleter owns a reference: the mapping outlives the tensor
  return torch::from_blob(const_cast<uint8_t*>(p), t.shape, [keep](void*) {},
                          torch::TensorOptions().dtype(to_torch_dtype(t.dtype)));
}

std::vector<std::pair<std::string, torch::Tensor>> named_state(const torch::nn::Module& module) {
  std::vector<std::pair<std::string, torch::Tensor>> r;
  for (const auto& p : module.named_parameters(true)) r.emplace_back(p.key(), p.value());
  for (const auto& b : module.named_buffers(true)) r.emplace_back(b.key(), b.value());
  return r;
}

void save_tensors(const std::filesystem::path& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                  const Metadata& metadata, const SaveOptions& options) {
  std::vector<TensorRecord> records;
  std::map<std::string, torch::Tensor> by_name;
  for (const auto& [name, t0] : tensors) {
    torch::Tensor t = t0.detach().to(torch::kCPU).contiguous();
    DType d = from_torch_dtype(t.scalar_type());
    if (options.dtype && dtype_is_float(d)) d = *options.dtype;
    std::vector<int64_t> shape(t.sizes().begin(), t.sizes().end());
    records.push_back({name, d, shape});
    if (!by_name.emplace(name, t).second) throw UsageError(path.string() + ": duplicate tensor name '" + name + "'");
  }
  FillFn fill = [&](const TensorRecord& r, void* dst) {
    const torch::Tensor& t = by_name.at(r.name);
    convert_dtype(t.data_ptr(), from_torch_dtype(t.scalar_type()), dst, r.dtype, static_cast<size_t>(t.numel()));
  };
  write_tensors(path, format_for_path(path), records, fill, metadata, options.write);
}

void save_state_dict(const torch::nn::Module& module, const std::filesystem::path& path, const Metadata& metadata,
                     const SaveOptions& options) {
  save_tensors(path, named_state(module), metadata, options);
}

void load_state_dict(torch::nn::Module& module, const TensorReader& reader, bool strict, const std::string& prefix) {
  std::vector<std::string> missing, mismatched, unexpected;
  auto state = named_state(module);
  std::vector<std::string> wanted;
  for (auto& [name, t] : state) {
    const std::string key = prefix + name;
    wanted.push_back(key);
    if (!reader.contains(key)) {
      missing.push_back(key);
      continue;
    }
    const TensorInfo& info = reader.info(key);
    std::vector<int64_t> shape(t.sizes().begin(), t.sizes().end());
    if (info.shape != shape) {
      mismatched.push_back(key + " (file " + shape_str(info.shape) + ", model " + shape_str(shape) + ")");
      continue;
    }
  }
  if (strict) {
    std::sort(wanted.begin(), wanted.end());
    for (const auto& t : reader.tensors())
      if (t.name.compare(0, prefix.size(), prefix) == 0 && !std::binary_search(wanted.begin(), wanted.end(), t.name))
        unexpected.push_back(t.name);
  }
  std::sort(missing.begin(), missing.end());
  std::sort(mismatched.begin(), mismatched.end());
  if (!missing.empty() || !mismatched.empty() || (strict && !unexpected.empty())) {
    auto join = [](const std::vector<std::string>& v) {
      std::string s;
      for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
      return s;
    };
    std::string msg;
    if (!missing.empty()) msg += "missing tensors: " + join(missing);
    if (!mismatched.empty()) msg += (msg.empty() ? "" : "; ") + std::string("shape mismatch: ") + join(mismatched);
    if (strict && !unexpected.empty()) msg += (msg.empty() ? "" : "; ") + std::string("unexpected tensors: ") + join(unexpected);
    throw InputError(reader.source(), "state dict", msg);
  }
  torch::NoGradGuard no_grad;
  for (auto& [name, t] : state) {
    torch::Tensor src = read_tensor(reader, prefix + name, from_torch_dtype(t.scalar_type()));
    t.copy_(src);
  }
}

void load_state_dict(torch::nn::Module& module, const std::filesystem::path& path, bool strict) {
  auto reader = open_tensors(path);
  load_state_dict(module, *reader, strict);
}

}  // namespace paramkit
