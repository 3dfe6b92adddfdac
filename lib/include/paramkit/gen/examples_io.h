// The files pfgm-sample reads and writes: images (IDX, uint8 scaled to [0, 1]; HDF5 or safetensors
// "images" [N, C, H, W] or [N, H, W], uint8 or float in [0, 1]) and points (CSV with a header, every
// column numeric; HDF5 or safetensors "points" [N, dim]). Samples carry their run description in the
// metadata (HDF5 and safetensors; IDX and CSV have none).
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace paramkit::gen {

struct Examples {
  std::string kind;       // images | points
  torch::Tensor x;        // images [N, C, H, W] in [0, 1], points [N, dim]; float32
  nlohmann::json about;   // the "paramkit.samples" metadata when the file has one, else null
  std::string source;
};

// InputError naming the file and field for an unknown format, a missing dataset, NaN or infinite values,
// an empty file, or images outside [0, 1].
Examples load_examples(const std::filesystem::path& path);
// Labels (IDX, or an HDF5/safetensors "labels" / "y" tensor) as int64 [N].
torch::Tensor load_labels(const std::filesystem::path& path);
// Writes by extension: .idx (images only, uint8), .csv (points only), .h5/.hdf5/.safetensors (float32,
// with `about` as the "paramkit.samples" metadata). Atomic.
void save_examples(const std::filesystem::path& path, const Examples& e, const nlohmann::json& about);
// The check save_examples makes first, for callers that want it before the work: UsageError for an unknown
// extension or one that cannot hold `kind` (IDX: images only; CSV: points only).
void check_output_path(const std::filesystem::path& path, const std::string& kind);

}  // namespace paramkit::gen
