#include "paramkit/nn/subspace.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "paramkit/core/error.h"
#include "paramkit/core/rng.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/tensor_store.h"
#include "paramkit/torch/state_dict.h"

namespace paramkit::nn {

ProjectionKind parse_projection(const std::string& name, const std::string& flag) {
  if (name == "dense") return ProjectionKind::dense;
  if (name == "sparse") return ProjectionKind::sparse;
  if (name == "fastfood") return ProjectionKind::fastfood;
  throw UsageError(flag + ": expected dense, sparse or fastfood, got '" + name + "'");
}

const char* projection_name(ProjectionKind k) {
  return k == ProjectionKind::dense ? "dense" : k == ProjectionKind::sparse ? "sparse" : "fastfood";
}

namespace {
// The butterflies, without autograd history: in place on a float32 CPU copy (one pass per level over
// contiguous memory), else as tensor operations (other devices and dtypes).
torch::Tensor wht_raw(const torch::Tensor& x) {
  const int64_t n = x.size(-1);
  TORCH_CHECK(n > 0 && (n & (n - 1)) == 0, "walsh_hadamard: the last dimension must be a power of two");
  if (x.device().is_cpu() && x.scalar_type() == torch::kFloat32) {
    torch::Tensor y = x.contiguous().clone();
    float* base = y.data_ptr<float>();
    const int64_t rows = y.numel() / n;
    for (int64_t r = 0; r < rows; ++r) {
      float* v = base + r * n;
      for (int64_t h = 1; h < n; h *= 2)
        for (int64_t i = 0; i < n; i += 2 * h)
          for (int64_t j = i; j < i + h; ++j) {
            const float a = v[j], b = v[j + h];
            v[j] = a + b;
            v[j + h] = a - b;
          }
    }
    return y;
  }
  const auto shape = x.sizes().vec();
  torch::Tensor y = x.reshape({-1, n});
  for (int64_t h = 1; h < n; h *= 2) {
    const torch::Tensor v = y.view({y.size(0), n / (2 * h), 2, h});
    const torch::Tensor a = v.select(2, 0), b = v.select(2, 1);
    y = torch::stack({a + b, a - b}, 2).reshape({-1, n});
  }
  return y.reshape(shape);
}

// H is symmetric, so the backward pass is H applied to the incoming gradient: O(n) memory kept
// between passes instead of every butterfly level's intermediates.
struct WalshHadamardFn : torch::autograd::Function<WalshHadamardFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext*, const torch::Tensor& x) {
    torch::NoGradGuard no_grad;
    return wht_raw(x);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext*, torch::autograd::tensor_list g) {
    return {wht_raw(g[0])};
  }
};
}  // namespace

torch::Tensor walsh_hadamard(const torch::Tensor& x) { return WalshHadamardFn::apply(x); }

torch::Tensor Projection::materialize() const {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> cols;
  for (int64_t j = 0; j < d_; ++j) {
    torch::Tensor e = torch::zeros({d_}, torch::kFloat32);
    e[j] = 1;
    cols.push_back(apply(e));
  }
  return torch::stack(cols, 1);
}

namespace {
// Standard normals from the project's generator (the same numbers in every LibTorch version).
void fill_normal(float* p, int64_t n, Rng& rng) {
  for (int64_t i = 0; i < n; ++i) {
    if ((i & 0xFFFFF) == 0) check_stop();
    p[i] = static_cast<float>(rng.normal());
  }
}

class DenseProjection : public Projection {
 public:
  DenseProjection(int64_t D, int64_t d, uint64_t seed, bool orthonormal) : Projection(D, d) {
    P_ = torch::empty({D, d}, torch::kFloat32);
    Rng rng(seed, 1);
    fill_normal(P_.data_ptr<float>(), D * d, rng);
    if (orthonormal) {
      P_ = std::get<0>(torch::linalg_qr(P_.to(torch::kFloat64))).to(torch::kFloat32).contiguous();
    } else {
      P_.div_(P_.norm(2, {0}, true).clamp_min(1e-30));  // unit columns over the whole model
    }
  }
  torch::Tensor apply(const torch::Tensor& t) const override { return torch::mv(P_.to(t.device()), t); }

 private:
  torch::Tensor P_;
};

class SparseProjection : public Projection {
 public:
  SparseProjection(int64_t D, int64_t d, uint64_t seed, const std::vector<int64_t>& layers) : Projection(D, d) {
    Rng rng(seed, 2);
    std::vector<int64_t> rows, cols;
    std::vector<float> vals;
    int64_t offset = 0;
    for (int64_t n : layers) {
      const double p = 1.0 / std::sqrt(static_cast<double>(n));
      for (int64_t j = 0; j < d; ++j) {
        check_stop();
        // positions with probability p, by geometric gaps (no D x d loop)
        int64_t i = -1;
        for (;;) {
          const double u = rng.uniform();
          const double gap = p >= 1 ? 0 : std::floor(std::log1p(-u) / std::log1p(-p));
          if (!(gap < static_cast<double>(n - i - 1))) break;
          i += 1 + static_cast<int64_t>(gap);
          rows.push_back(offset + i);
          cols.push_back(j);
          vals.push_back(static_cast<float>(rng.normal()));
        }
      }
      offset += n;
    }
    const int64_t nnz = static_cast<int64_t>(vals.size());
    torch::Tensor v = torch::from_blob(vals.data(), {nnz}, torch::kFloat32).clone();
    torch::Tensor c = torch::from_blob(cols.data(), {nnz}, torch::kInt64).clone();
    torch::Tensor norms = torch::zeros({d}, torch::kFloat32).index_add_(0, c, v * v).sqrt().clamp_min(1e-30);
    v = v / norms.index_select(0, c);
    torch::Tensor idx = torch::stack({torch::from_blob(rows.data(), {nnz}, torch::kInt64).clone(), c});
    P_ = torch::sparse_coo_tensor(idx, v, {D, d}).coalesce();
  }
  torch::Tensor apply(const torch::Tensor& t) const override {
    return torch::mm(P_.to(t.device()), t.unsqueeze(1)).squeeze(1);
  }

 private:
  torch::Tensor P_;
};

class FastfoodProjection : public Projection {
 public:
  FastfoodProjection(int64_t D, int64_t d, uint64_t seed) : Projection(D, d) {
    L_ = 1;
    while (L_ < D) L_ *= 2;
    if (d > L_) throw UsageError(fmt::format("--d {}: Fastfood needs d <= {} (the next power of two above D = {})", d, L_, D));
    Rng rng(seed, 3);
    B_ = torch::empty({L_}, torch::kFloat32);
    G_ = torch::empty({L_}, torch::kFloat32);
    auto* b = B_.data_ptr<float>();
    for (int64_t i = 0; i < L_; ++i) b[i] = rng.below(2) ? 1.0f : -1.0f;
    std::vector<int64_t> perm = permutation(L_, rng);
    Pi_ = torch::from_blob(perm.data(), {L_}, torch::kInt64).clone();
    fill_normal(G_.data_ptr<float>(), L_, rng);
    scale_ = 1.0 / (std::sqrt(static_cast<double>(L_) * G_.pow(2).sum().item<double>()) *
                    std::sqrt(static_cast<double>(D) / static_cast<double>(L_)));
  }
  torch::Tensor apply(const torch::Tensor& t) const override {
    const auto dev = t.device();
    torch::Tensor x = torch::constant_pad_nd(t, {0, L_ - d_});
    x = walsh_hadamard(x * B_.to(dev));
    x = x.index_select(0, Pi_.to(dev)) * G_.to(dev);
    x = walsh_hadamard(x);
    return x.slice(0, 0, D_) * scale_;
  }

 private:
  int64_t L_ = 1;
  torch::Tensor B_, G_, Pi_;
  double scale_ = 1;
};
}  // namespace

std::unique_ptr<Projection> make_projection(const ProjectionSpec& s, const std::vector<int64_t>& layer_sizes) {
  int64_t D = 0;
  for (int64_t n : layer_sizes) D += n;
  if (s.d < 1 || s.d > D) throw UsageError(fmt::format("--d: expected 1 <= d <= D = {} (the model's parameters), got {}", D, s.d));
  if (s.orthonormal && s.kind != ProjectionKind::dense) throw UsageError("orthonormal columns are for the dense projection only");
  switch (s.kind) {
    case ProjectionKind::dense: {
      const double bytes = 4.0 * static_cast<double>(D) * static_cast<double>(s.d);
      if (bytes > static_cast<double>(s.memory_budget))
        throw UsageError(fmt::format("--projection dense: P is {} x {} floats, {:.3g} GB, above --memory-budget {:.3g} GB "
                                     "(use fastfood or sparse, or raise the budget)",
                                     D, s.d, bytes / 1e9, static_cast<double>(s.memory_budget) / 1e9));
      return std::make_unique<DenseProjection>(D, s.d, s.seed, s.orthonormal);
    }
    case ProjectionKind::sparse: return std::make_unique<SparseProjection>(D, s.d, s.seed, layer_sizes);
    case ProjectionKind::fastfood: return std::make_unique<FastfoodProjection>(D, s.d, s.seed);
  }
  throw UsageError("unknown projection");
}

Subspace::Subspace(torch::nn::Module& module, const ProjectionSpec& spec) {
  params_ = module.parameters();
  std::vector<torch::Tensor> flat;
  for (const auto& p : params_) flat.push_back(p.detach().to(torch::kFloat32).reshape(-1));
  if (flat.empty()) throw UsageError("the model has no parameters");
  theta0_ = torch::cat(flat);
  projection_ = make_projection(spec, layer_sizes());
  theta_d_ = torch::zeros({spec.d}, theta0_.options()).requires_grad_(true);
}

std::vector<int64_t> Subspace::layer_sizes() const {
  std::vector<int64_t> s;
  for (const auto& p : params_) s.push_back(p.numel());
  return s;
}

void Subspace::load() {
  // P theta_d keeps its graph until backward() (one projection per step, not two).
  offset_ = projection_->apply(theta_d_);
  torch::NoGradGuard no_grad;
  const torch::Tensor theta = theta0_ + offset_.detach();
  int64_t off = 0;
  for (auto& p : params_) {
    p.copy_(theta.slice(0, off, off + p.numel()).view_as(p));
    off += p.numel();
  }
}

void Subspace::backward(double l2) {
  std::vector<torch::Tensor> g;
  for (auto& p : params_) g.push_back(p.grad().defined() ? p.grad().reshape(-1).to(torch::kFloat32) : torch::zeros({p.numel()}, theta0_.options()));
  torch::Tensor grad = torch::cat(g);
  torch::Tensor offset = offset_.defined() ? offset_ : projection_->apply(theta_d_);
  offset_ = torch::Tensor();
  if (l2 > 0) grad = grad + l2 * (theta0_ + offset.detach());
  offset.backward(grad);
  for (auto& p : params_)
    if (p.grad().defined()) p.mutable_grad().reset();
}

std::string fingerprint_weights(const torch::Tensor& flat) {
  const torch::Tensor t = flat.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  const auto* p = static_cast<const unsigned char*>(t.data_ptr());
  uint64_t h = 14695981039346656037ull;
  for (size_t i = 0, n = static_cast<size_t>(t.numel()) * sizeof(float); i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return fmt::format("{:016x}", h);
}

namespace {
const char* kSolutionKey = "paramkit.subspace";
}

void save_subspace_solution(const std::filesystem::path& path, const SubspaceSolution& s, Metadata metadata) {
  nlohmann::json j = {{"format", 1},
                      {"model", to_json(s.model)},
                      {"projection", projection_name(s.projection.kind)},
                      {"d", s.projection.d},
                      {"D", s.D},
                      {"seed", s.projection.seed},
                      {"theta0", s.theta0}};
  metadata[kSolutionKey] = j.dump();
  save_tensors(path, {{"theta_d", s.theta_d.detach().to(torch::kCPU, torch::kFloat32).contiguous()}}, metadata);
}

SubspaceSolution load_subspace_solution(const std::filesystem::path& path) {
  const std::string src = path.string();
  auto reader = open_tensors(path);
  auto it = reader->metadata().find(kSolutionKey);
  if (it == reader->metadata().end())
    throw InputError(src, std::string("__metadata__.") + kSolutionKey, "missing (not a subspace solution written by intdim-probe export)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(it->second);
  } catch (const std::exception&) {
    throw InputError(src, kSolutionKey, "not valid JSON");
  }
  auto num = [&](const char* key) -> int64_t {
    if (!j.contains(key) || !j[key].is_number_integer() || j[key].get<int64_t>() < 0) throw InputError(src, std::string(kSolutionKey) + "." + key, "expected a non-negative integer");
    return j[key].get<int64_t>();
  };
  SubspaceSolution s;
  if (!j.is_object() || !j.contains("model")) throw InputError(src, std::string(kSolutionKey) + ".model", "missing");
  s.model = model_spec_from_json(j["model"], src);
  if (!j.contains("projection") || !j["projection"].is_string()) throw InputError(src, std::string(kSolutionKey) + ".projection", "missing");
  s.projection.kind = parse_projection(j["projection"].get<std::string>(), src + ": projection");
  s.projection.d = num("d");
  s.D = num("D");
  if (!j.contains("seed") || !j["seed"].is_number_unsigned()) throw InputError(src, std::string(kSolutionKey) + ".seed", "expected a non-negative integer");
  s.projection.seed = j["seed"].get<uint64_t>();
  s.projection.memory_budget = std::numeric_limits<int64_t>::max();
  if (!j.contains("theta0") || !j["theta0"].is_string()) throw InputError(src, std::string(kSolutionKey) + ".theta0", "missing");
  s.theta0 = j["theta0"].get<std::string>();
  if (!reader->contains("theta_d")) throw InputError(src, "theta_d", "missing tensor");
  s.theta_d = read_tensor(*reader, "theta_d", DType::F32);
  if (s.theta_d.dim() != 1 || s.theta_d.size(0) != s.projection.d || s.projection.d < 1)
    throw InputError(src, "theta_d", fmt::format("expected a vector of d = {} floats, got {} values in {} dimensions", s.projection.d, s.theta_d.numel(), s.theta_d.dim()));
  if (!torch::isfinite(s.theta_d).all().item<bool>()) throw InputError(src, "theta_d", "non-finite values");
  return s;
}

std::shared_ptr<torch::nn::Module> expand_subspace_solution(const SubspaceSolution& s, std::function<torch::Tensor(torch::Tensor)>& forward) {
  auto model = build_model(s.model, s.projection.seed, forward);
  Subspace sub(*model, s.projection);
  if (sub.D() != s.D)
    throw Error(fmt::format("the rebuilt model has {} parameters, the solution says D = {}", sub.D(), s.D));
  const std::string fp = fingerprint_weights(sub.theta0());
  if (fp != s.theta0)
    throw Error(fmt::format("the rebuilt initial weights differ from the ones the solution was trained from (fingerprint {} vs {}): "
                            "this LibTorch initialises the model differently; expand with the build that trained it",
                            fp, s.theta0));
  {
    torch::NoGradGuard g;
    sub.theta_d().copy_(s.theta_d);
  }
  sub.load();
  return model;
}

}  // namespace paramkit::nn
