// Denoiser files, data <-> model space, and the robustness perturbations.
#include "paramkit/gen/model.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "paramkit/core/error.h"
#include "paramkit/io/tensor_store.h"
#include "paramkit/torch/state_dict.h"

namespace paramkit::gen {

namespace {
const char* kMetaKey = "paramkit.pfgm";
bool positive_all(const std::vector<int64_t>& v) {
  return !v.empty() && std::all_of(v.begin(), v.end(), [](int64_t x) { return x > 0 && x <= (1 << 20); });
}
}  // namespace

std::string format_D(double D) { return std::isinf(D) ? "inf" : fmt::format("{}", D); }

double parse_D(const std::string& text, const std::string& flag) {
  std::string t = text;
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (t == "inf" || t == "infinity" || t == "edm") return kInfiniteD;
  size_t used = 0;
  double v = NAN;
  try {
    v = std::stod(t, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != t.size() || !std::isfinite(v) || !(v > 0) || v > 1e12)
    throw UsageError(fmt::format("{} '{}': expected a positive number up to 1e12 or inf (EDM)", flag, text));
  return v;
}

void DenoiserSpec::validate() const {
  if (kind != "unet" && kind != "mlp") throw UsageError(fmt::format("model kind '{}': expected unet or mlp", kind));
  if (!positive_all(shape)) throw UsageError("model: the example shape must be non-empty and positive");
  if (kind == "unet") {
    if (shape.size() != 3) throw UsageError("model unet: examples must be images [C, H, W]");
    if (unet.channels != shape[0]) throw UsageError("model unet: channels differ from the images'");
    unet.validate();
    const int64_t f = int64_t{1} << (unet.mult.size() - 1);
    if (shape[1] % f != 0 || shape[2] % f != 0)
      throw UsageError(fmt::format("model unet: {} levels need image sides divisible by {} (got {}x{}; pad the images or use fewer levels)",
                                   unet.mult.size(), f, shape[1], shape[2]));
  } else {
    if (shape.size() != 1) throw UsageError("model mlp: examples must be points [dim]");
    if (!positive_all(hidden)) throw UsageError("--hidden: widths must be positive");
    if (embedding < 2 || embedding % 2 || embedding > 65536) throw UsageError("--embedding: an even width in [2, 65536]");
  }
  if (!(D > 0)) throw UsageError(fmt::format("--D {}: must be positive (inf: EDM)", D));
  if (!(sigma_data > 0) || !std::isfinite(sigma_data)) throw UsageError("--sigma-data must be positive and finite");
  const size_t cols = kind == "mlp" ? static_cast<size_t>(shape[0]) : 1;
  if (offset.size() != cols || scale.size() != cols) throw UsageError("model: data scaling has the wrong number of entries");
  for (size_t i = 0; i < cols; ++i)
    if (!std::isfinite(offset[i]) || !std::isfinite(scale[i]) || !(scale[i] > 0)) throw UsageError("model: data scaling must be finite and positive");
}

nlohmann::json to_json(const DenoiserSpec& s) {
  nlohmann::json j = {{"kind", s.kind}, {"shape", s.shape}, {"D", format_D(s.D)}, {"sigma_data", s.sigma_data},
                      {"offset", s.offset}, {"scale", s.scale}};
  if (s.kind == "unet")
    j["unet"] = {{"base", s.unet.base}, {"mult", s.unet.mult}, {"blocks", s.unet.blocks}, {"embedding", s.unet.embedding}};
  else
    j["mlp"] = {{"hidden", s.hidden}, {"embedding", s.embedding}};
  return j;
}

DenoiserSpec denoiser_spec_from_json(const nlohmann::json& j, const std::string& source) {
  DenoiserSpec s;
  std::string field;
  try {
    field = "kind";
    s.kind = j.at("kind").get<std::string>();
    field = "shape";
    s.shape = j.at("shape").get<std::vector<int64_t>>();
    field = "D";
    s.D = parse_D(j.at("D").get<std::string>(), "D");
    field = "sigma_data";
    s.sigma_data = j.at("sigma_data").get<double>();
    field = "offset";
    s.offset = j.at("offset").get<std::vector<double>>();
    field = "scale";
    s.scale = j.at("scale").get<std::vector<double>>();
    if (s.kind == "unet") {
      field = "unet";
      const auto& u = j.at("unet");
      s.unet.base = u.at("base").get<int64_t>();
      s.unet.mult = u.at("mult").get<std::vector<int64_t>>();
      s.unet.blocks = u.at("blocks").get<int64_t>();
      s.unet.embedding = u.at("embedding").get<int64_t>();
      if (!s.shape.empty()) s.unet.channels = s.shape[0];
    } else {
      field = "mlp";
      s.hidden = j.at("mlp").at("hidden").get<std::vector<int64_t>>();
      s.embedding = j.at("mlp").at("embedding").get<int64_t>();
    }
    field = "";
    s.validate();
  } catch (const UsageError& e) {
    throw InputError(source, std::string(kMetaKey) + (field.empty() ? "" : "." + field), e.what());
  } catch (const nlohmann::json::exception& e) {
    throw InputError(source, std::string(kMetaKey) + "." + field, "missing or malformed");
  }
  return s;
}

DenoiserModel build_denoiser(const DenoiserSpec& spec) {
  spec.validate();
  DenoiserModel m;
  m.spec = spec;
  if (spec.kind == "unet") {
    nn::UNetOptions o = spec.unet;
    o.channels = spec.shape[0];
    nn::UNet net(o);
    m.net = net.ptr();
    m.f = [net](const torch::Tensor& x, const torch::Tensor& c) mutable { return net->forward(x, c); };
  } else {
    nn::MlpDenoiser net(spec.shape[0], spec.hidden, spec.embedding);
    m.net = net.ptr();
    m.f = [net](const torch::Tensor& x, const torch::Tensor& c) mutable { return net->forward(x, c); };
  }
  return m;
}

void save_denoiser(const DenoiserModel& m, const std::filesystem::path& path, Metadata metadata) {
  metadata[kMetaKey] = to_json(m.spec).dump();
  save_state_dict(*m.net, path, metadata);
}

DenoiserModel load_denoiser(const std::filesystem::path& path) {
  const auto reader = open_tensors(path);
  const auto it = reader->metadata().find(kMetaKey);
  if (it == reader->metadata().end())
    throw InputError(path.string(), kMetaKey, "not a pfgm-sample model (no model description in the metadata; write it with pfgm-sample train --save)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(it->second);
  } catch (const nlohmann::json::exception&) {
    throw InputError(path.string(), kMetaKey, "not valid JSON");
  }
  DenoiserModel m = build_denoiser(denoiser_spec_from_json(j, path.string()));
  load_state_dict(*m.net, *reader, /*strict=*/true);
  m.net->eval();
  return m;
}

namespace {
torch::Tensor column_view(const std::vector<double>& v, const torch::Tensor& like) {
  torch::Tensor t = torch::tensor(v, torch::kFloat64).to(like.dtype());
  if (v.size() == 1) return t.reshape({});
  std::vector<int64_t> shape(static_cast<size_t>(like.dim()), 1);
  shape[1] = static_cast<int64_t>(v.size());
  return t.view(shape);
}
}  // namespace

torch::Tensor to_model_space(const DenoiserSpec& s, const torch::Tensor& data) {
  return (data - column_view(s.offset, data)) * column_view(s.scale, data);
}
torch::Tensor from_model_space(const DenoiserSpec& s, const torch::Tensor& x) { return x / column_view(s.scale, x) + column_view(s.offset, x); }

void fit_point_scaling(DenoiserSpec& s, const torch::Tensor& points) {
  const torch::Tensor p = points.to(torch::kFloat64);
  const torch::Tensor mean = p.mean(0), sd = points.size(0) > 1 ? p.std(0) : torch::ones_like(mean);
  s.offset.assign(mean.data_ptr<double>(), mean.data_ptr<double>() + mean.numel());
  s.scale.clear();
  for (int64_t i = 0; i < sd.numel(); ++i) {
    const double v = sd[i].item<double>();
    s.scale.push_back(v > 1e-12 && std::isfinite(v) ? s.sigma_data / v : 1.0);
  }
}

void add_weight_noise(torch::nn::Module& net, double alpha, uint64_t seed) {
  if (!(alpha >= 0) || !std::isfinite(alpha)) throw UsageError("weight noise: alpha must be finite and >= 0");
  if (alpha == 0) return;
  torch::NoGradGuard g;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (auto& p : net.parameters()) {
    const torch::Tensor eps = at::normal(0.0, 1.0, p.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat32));
    p.add_(alpha * p.abs() * eps.to(p.device(), p.scalar_type()));
  }
}

void quantize_weights(torch::nn::Module& net, int bits) {
  if (bits < 2 || bits > 16) throw UsageError(fmt::format("quantisation: {} bits is outside [2, 16]", bits));
  torch::NoGradGuard g;
  const double levels = std::pow(2.0, bits - 1) - 1;
  for (auto& p : net.parameters()) {
    const double m = p.abs().max().item<double>();
    if (!(m > 0)) continue;
    const double step = m / levels;
    p.copy_((p / step).round() * step);
  }
}

Denoiser with_output_noise(Denoiser d, double alpha) {
  if (!(alpha >= 0) || !std::isfinite(alpha)) throw UsageError("output noise: alpha must be finite and >= 0");
  if (alpha == 0) return d;
  return [d, alpha](const torch::Tensor& x, double sigma) {
    const torch::Tensor out = d(x, sigma);
    return out + alpha * torch::randn_like(out);
  };
}

}  // namespace paramkit::gen
