// LibTorch bridge: tensors to/from the stores of io/tensor_store.h, and state dicts of any
// torch::nn::Module by register_module names, with every mismatch named.
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "paramkit/io/tensor_store.h"

namespace paramkit {

// DType <-> torch scalar type (F8 and unsigned 16/32/64 have no LibTorch 1.13 type: UsageError).
c10::ScalarType to_torch_dtype(DType t);
DType from_torch_dtype(c10::ScalarType t);

// Reads one tensor (CPU, contiguous). convert_to: e.g. F32 for BF16/F16/F8 weights.
torch::Tensor read_tensor(const TensorReader& reader, const std::string& name,
                          std::optional<DType> convert_to = std::nullopt);

// Reads a tensor onto `device`. With convert_to F32 on a CUDA device, F16/BF16/FP8 weights travel at
// their stored size and are decoded on the GPU (kernels/decode.cu); otherwise converted on the CPU.
torch::Tensor read_tensor_to(const TensorReader& reader, const std::string& name, c10::Device device,
                             std::optional<DType> convert_to = std::nullopt);

// Zero-copy view of a memory-mapped tensor (safetensors inputs): no read until pages are touched, and
// the view keeps the reader (and its mapping) alive. Writes go to private copy-on-write pages, never
// to the file. Falls back to read_tensor when the store is not mapped or the data is misaligned.
torch::Tensor view_tensor(const std::shared_ptr<const TensorReader>& reader, const std::string& name);

// Named tensors of a module: parameters then buffers, by register_module paths.
std::vector<std::pair<std::string, torch::Tensor>> named_state(const torch::nn::Module& module);

struct SaveOptions {
  std::optional<DType> dtype;  // cast floating tensors
  WriteOptions write;
};

// Writes named tensors in the format the path implies (see format_for_path).
void save_tensors(const std::filesystem::path& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                  const Metadata& metadata, const SaveOptions& options = {});
void save_state_dict(const torch::nn::Module& module, const std::filesystem::path& path, const Metadata& metadata,
                     const SaveOptions& options = {});

// Loads by name into the module's parameters and buffers. strict: every module tensor present and no
// extra tensor in the file; shapes always must match. The InputError lists every problem.
void load_state_dict(torch::nn::Module& module, const TensorReader& reader, bool strict = true,
                     const std::string& prefix = "");
void load_state_dict(torch::nn::Module& module, const std::filesystem::path& path, bool strict = true);

}  // namespace paramkit
