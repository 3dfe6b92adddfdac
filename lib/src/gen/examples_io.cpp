// Image and point files of pfgm-sample.
#include "paramkit/gen/examples_io.h"

#include <fmt/format.h>

#include <algorithm>

#include "paramkit/core/error.h"
#include "paramkit/core/provenance.h"
#include "paramkit/io/csv.h"
#include "paramkit/io/idx.h"
#include "paramkit/io/tensor_store.h"
#include "paramkit/torch/state_dict.h"

namespace paramkit::gen {

namespace {
const char* kAbout = "paramkit.samples";
std::string ext_of(const std::filesystem::path& p) {
  std::string name = p.filename().string();
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (name.size() > 3 && name.substr(name.size() - 3) == ".gz") name = name.substr(0, name.size() - 3);
  if (name.find("idx") != std::string::npos || name.find("ubyte") != std::string::npos) return "idx";
  const auto dot = name.rfind('.');
  return dot == std::string::npos ? "" : name.substr(dot + 1);
}
void check_finite(const torch::Tensor& x, const std::string& source, const std::string& field) {
  if (x.numel() == 0 || x.size(0) == 0) throw InputError(source, field, "no examples");
  if (!torch::isfinite(x).all().item<bool>()) throw InputError(source, field, "contains NaN or infinite values");
}
torch::Tensor as_images(torch::Tensor x, const std::string& source, const std::string& field) {
  if (x.dim() == 3) x = x.unsqueeze(1);
  if (x.dim() != 4) throw InputError(source, field, fmt::format("expected images [N, C, H, W] or [N, H, W], got {} dimensions", x.dim()));
  if (x.scalar_type() == torch::kUInt8) return x.to(torch::kFloat32) / 255.0;
  x = x.to(torch::kFloat32);
  check_finite(x, source, field);
  if (x.min().item<double>() < -1e-6 || x.max().item<double>() > 1 + 1e-6)
    throw InputError(source, field, "image values must lie in [0, 1] (or be uint8)");
  return x;
}
}  // namespace

Examples load_examples(const std::filesystem::path& path) {
  Examples e;
  e.source = path.string();
  const std::string ext = ext_of(path);
  if (ext == "idx") {
    const IdxArray a = read_idx(path);
    if (a.dims.size() < 3 || a.dims.size() > 4) throw InputError(e.source, "dimensions", "expected IDX images [N, H, W] or [N, C, H, W]");
    torch::Tensor t = torch::from_blob(const_cast<uint8_t*>(a.data.data()), a.dims, to_torch_dtype(a.dtype)).clone();
    e.kind = "images";
    e.x = as_images(t, e.source, "images");
  } else if (ext == "csv") {
    const Table t = read_csv(path);
    if (t.rows == 0 || t.columns.empty()) throw InputError(e.source, "rows", "no points");
    torch::Tensor x = torch::empty({static_cast<int64_t>(t.rows), static_cast<int64_t>(t.columns.size())}, torch::kFloat64);
    auto acc = x.accessor<double, 2>();
    for (size_t c = 0; c < t.columns.size(); ++c) {
      const Column& col = t.columns[c];
      if (!col.numeric) throw InputError(e.source, col.name, "every column must be numeric");
      for (size_t r = 0; r < t.rows; ++r) {
        if (col.missing[r] || !std::isfinite(col.values[r]))
          throw InputError(e.source, col.name, fmt::format("{}: missing, NaN or infinite value", t.where(r)));
        if (std::abs(col.values[r]) > 1e15) throw InputError(e.source, col.name, fmt::format("{}: |value| above 1e15", t.where(r)));
        acc[static_cast<int64_t>(r)][static_cast<int64_t>(c)] = col.values[r];
      }
    }
    e.kind = "points";
    e.x = x.to(torch::kFloat32);
  } else if (ext == "h5" || ext == "hdf5" || ext == "safetensors") {
    const auto reader = open_tensors(path);
    if (reader->contains("images")) {
      e.kind = "images";
      e.x = as_images(read_tensor(*reader, "images"), e.source, "images");
    } else if (reader->contains("points") || reader->contains("X")) {
      const std::string name = reader->contains("points") ? "points" : "X";
      torch::Tensor x = read_tensor(*reader, name);
      if (x.dim() >= 3) {
        e.kind = "images";
        e.x = as_images(x, e.source, name);
      } else {
        if (x.dim() != 2) throw InputError(e.source, name, "expected points [N, dim]");
        e.kind = "points";
        e.x = x.to(torch::kFloat32);
        check_finite(e.x, e.source, name);
        if (e.x.abs().max().item<double>() > 1e15) throw InputError(e.source, name, "|value| above 1e15");
      }
    } else {
      throw InputError(e.source, "images", "no 'images', 'points' or 'X' tensor");
    }
    const auto it = reader->metadata().find(kAbout);
    if (it != reader->metadata().end()) {
      try {
        e.about = nlohmann::json::parse(it->second);
      } catch (const nlohmann::json::exception&) {
        throw InputError(e.source, kAbout, "not valid JSON");
      }
    }
  } else {
    throw InputError(e.source, "format", "unknown extension: expected IDX (*idx*, *ubyte*, optionally .gz), .csv, .h5/.hdf5 or .safetensors");
  }
  if (e.x.size(0) == 0) throw InputError(e.source, e.kind, "no examples");
  return e;
}

torch::Tensor load_labels(const std::filesystem::path& path) {
  const std::string ext = ext_of(path), source = path.string();
  torch::Tensor y;
  if (ext == "idx") {
    const IdxArray a = read_idx(path);
    if (a.dims.size() != 1) throw InputError(source, "dimensions", "expected IDX labels [N]");
    y = torch::from_blob(const_cast<uint8_t*>(a.data.data()), a.dims, to_torch_dtype(a.dtype)).clone();
  } else {
    const auto reader = open_tensors(path);
    const std::string name = reader->contains("labels") ? "labels" : "y";
    if (!reader->contains(name)) throw InputError(source, "labels", "no 'labels' or 'y' tensor");
    y = read_tensor(*reader, name);
    if (y.dim() != 1) throw InputError(source, name, "expected labels [N]");
  }
  if (y.is_floating_point() && !(y == y.round()).all().item<bool>()) throw InputError(source, "labels", "labels must be whole numbers");
  y = y.to(torch::kInt64);
  if (y.numel() == 0 || y.min().item<int64_t>() < 0 || y.max().item<int64_t>() > 100000)
    throw InputError(source, "labels", "labels must be class indices in [0, 100000]");
  return y;
}

void check_output_path(const std::filesystem::path& path, const std::string& kind) {
  const std::string ext = ext_of(path);
  if (ext == "idx" && kind != "images")
    throw UsageError(fmt::format("{}: IDX holds images; write points as .csv, .h5 or .safetensors", path.string()));
  if (ext == "csv" && kind != "points")
    throw UsageError(fmt::format("{}: CSV holds points; write images as .idx, .h5 or .safetensors", path.string()));
  if (ext != "idx" && ext != "csv" && ext != "h5" && ext != "hdf5" && ext != "safetensors")
    throw UsageError(fmt::format("{}: unknown extension: expected .idx, .csv, .h5/.hdf5 or .safetensors", path.string()));
}

void save_examples(const std::filesystem::path& path, const Examples& e, const nlohmann::json& about) {
  check_output_path(path, e.kind);
  const std::string ext = ext_of(path);
  const torch::Tensor x = e.x.detach().to(torch::kCPU).contiguous();
  if (ext == "idx") {
    IdxArray a;
    a.dtype = DType::U8;
    const torch::Tensor u8 = (x.clamp(0, 1) * 255).round().to(torch::kUInt8);
    a.dims = u8.size(1) == 1 ? std::vector<int64_t>{u8.size(0), u8.size(2), u8.size(3)} : u8.sizes().vec();
    a.data.assign(u8.data_ptr<uint8_t>(), u8.data_ptr<uint8_t>() + u8.numel());
    write_idx(path, a);
  } else if (ext == "csv") {
    Table t;
    t.rows = static_cast<size_t>(x.size(0));
    const torch::Tensor d = x.to(torch::kFloat64);
    for (int64_t c = 0; c < x.size(1); ++c) {
      const torch::Tensor col = d.select(1, c).contiguous();
      t.columns.push_back(numeric_column(fmt::format("x{}", c + 1), std::vector<double>(col.data_ptr<double>(), col.data_ptr<double>() + col.numel())));
    }
    write_csv(path, t);
  } else {  // h5, hdf5, safetensors
    Metadata meta = provenance_metadata();
    meta[kAbout] = about.dump();
    save_tensors(path, {{e.kind, x.to(torch::kFloat32)}}, meta);
  }
}

}  // namespace paramkit::gen
