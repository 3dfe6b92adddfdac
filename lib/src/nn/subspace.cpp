#include "paramkit/nn/subspace.h"

#include <fmt/format.h>

#include <algorithm>
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
// The butterflies, without autograd history: in place on a float32 CPU copy, else as tensor
// operations (other devices and dtypes). On the CPU: the first three levels in registers (8-point
// transforms), the levels up to 4096 block by block in L1 cache, the rest two levels per pass over
// memory (radix 4); blocks and passes split over LibTorch's threads.
inline void wht8(float* v) {
  const float a0 = v[0] + v[1], a1 = v[0] - v[1], a2 = v[2] + v[3], a3 = v[2] - v[3];
  const float a4 = v[4] + v[5], a5 = v[4] - v[5], a6 = v[6] + v[7], a7 = v[6] - v[7];
  const float b0 = a0 + a2, b2 = a0 - a2, b1 = a1 + a3, b3 = a1 - a3;
  const float b4 = a4 + a6, b6 = a4 - a6, b5 = a5 + a7, b7 = a5 - a7;
  v[0] = b0 + b4, v[4] = b0 - b4, v[1] = b1 + b5, v[5] = b1 - b5;
  v[2] = b2 + b6, v[6] = b2 - b6, v[3] = b3 + b7, v[7] = b3 - b7;
}
// Levels h and 2h of the butterflies over rows j0..j1 of four rows h apart, in one pass (radix 4).
inline void radix4(float* v, int64_t h, int64_t j0, int64_t j1) {
  float* __restrict p0 = v;
  float* __restrict p1 = v + h;
  float* __restrict p2 = v + 2 * h;
  float* __restrict p3 = v + 3 * h;
  for (int64_t j = j0; j < j1; ++j) {
    const float y0 = p0[j] + p1[j], y1 = p0[j] - p1[j], y2 = p2[j] + p3[j], y3 = p2[j] - p3[j];
    p0[j] = y0 + y2;
    p2[j] = y0 - y2;
    p1[j] = y1 + y3;
    p3[j] = y1 - y3;
  }
}
inline void radix2(float* v, int64_t h) {
  float* __restrict a = v;
  float* __restrict b = v + h;
  for (int64_t j = 0; j < h; ++j) {
    const float x = a[j], y = b[j];
    a[j] = x + y;
    b[j] = x - y;
  }
}
// Levels h, 2h, ... below h_to of a transform of length n: two per pass, one single level last if odd.
void butterflies(float* v, int64_t n, int64_t h, int64_t h_to) {
  for (; 4 * h <= h_to; h *= 4)
    for (int64_t i = 0; i < n; i += 4 * h) radix4(v + i, h, 0, h);
  if (h < h_to)
    for (int64_t i = 0; i < n; i += 2 * h) radix2(v + i, h);
}
void wht_inplace(float* v, int64_t n) {
  if (n < 8) {
    butterflies(v, n, 1, n);
    return;
  }
  const int64_t block = std::min<int64_t>(n, 4096);
  at::parallel_for(0, n / block, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      float* p = v + b * block;
      for (int64_t k = 0; k < block; k += 8) wht8(p + k);
      butterflies(p, block, 8, block);
    }
  });
  // the levels above a block: radix 4 in chunks of 1024 rows (split over threads), then one level if odd
  int64_t h = block;
  for (; 4 * h <= n; h *= 4) {
    const int64_t chunks = h / 1024;
    at::parallel_for(0, n / (4 * h) * chunks, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) radix4(v + (c / chunks) * 4 * h, h, (c % chunks) * 1024, (c % chunks + 1) * 1024);
    });
  }
  if (h < n) butterflies(v, n, h, n);
}

torch::Tensor wht_raw(const torch::Tensor& x) {
  const int64_t n = x.size(-1);
  TORCH_CHECK(n > 0 && (n & (n - 1)) == 0, "walsh_hadamard: the last dimension must be a power of two");
  if (x.device().is_cpu() && x.scalar_type() == torch::kFloat32) {
    torch::Tensor y = x.contiguous().clone();
    float* base = y.data_ptr<float>();
    const int64_t rows = y.numel() / n;
    for (int64_t r = 0; r < rows; ++r) wht_inplace(base + r * n, n);
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

// A projection with fused float32 CPU kernels for P x and P^T y, applied as one autograd node each
// way (no intermediate tensors or graph per factor); other devices and dtypes use tensor operations.
class CpuKernelProjection : public Projection {
 public:
  virtual void forward_cpu(const float* x, float* out) const = 0;    // out = P x   (D values)
  virtual void transpose_cpu(const float* y, float* out) const = 0;  // out = P^T y (d values)

 protected:
  using Projection::Projection;
  // P t through the kernels when t is a float32 CPU vector, else an undefined tensor.
  torch::Tensor apply_cpu(const torch::Tensor& t) const;
};

struct CpuKernelFn : torch::autograd::Function<CpuKernelFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& t, int64_t projection) {
    ctx->saved_data["p"] = projection;
    const auto* p = reinterpret_cast<const CpuKernelProjection*>(projection);
    const torch::Tensor x = t.contiguous();
    torch::Tensor out = torch::empty({p->D()}, x.options());
    p->forward_cpu(x.data_ptr<float>(), out.data_ptr<float>());
    return out;
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::tensor_list g) {
    const auto* p = reinterpret_cast<const CpuKernelProjection*>(ctx->saved_data["p"].toInt());
    const torch::Tensor y = g[0].contiguous();
    torch::Tensor out = torch::empty({p->d()}, y.options());
    p->transpose_cpu(y.data_ptr<float>(), out.data_ptr<float>());
    return {out, torch::Tensor()};
  }
};

torch::Tensor CpuKernelProjection::apply_cpu(const torch::Tensor& t) const {
  if (t.device().is_cpu() && t.scalar_type() == torch::kFloat32 && t.dim() == 1)
    return CpuKernelFn::apply(t, static_cast<int64_t>(reinterpret_cast<intptr_t>(this)));
  return torch::Tensor();
}

class SparseProjection : public CpuKernelProjection {
 public:
  SparseProjection(int64_t D, int64_t d, uint64_t seed, const std::vector<int64_t>& layers) : CpuKernelProjection(D, d) {
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
    // unit columns over the whole model
    std::vector<double> norms(static_cast<size_t>(d), 0.0);
    for (size_t k = 0; k < vals.size(); ++k) norms[cols[k]] += static_cast<double>(vals[k]) * vals[k];
    for (size_t k = 0; k < vals.size(); ++k) vals[k] = static_cast<float>(vals[k] / std::max(std::sqrt(norms[cols[k]]), 1e-30));
    // Both compressed layouts, by counting sort: rows for P x, columns for P^T y (each a gather, so the
    // rows or columns split over threads without write conflicts).
    auto compress = [&](const std::vector<int64_t>& keys, int64_t n_keys, const std::vector<int64_t>& other, Compressed& c) {
      c.start.assign(static_cast<size_t>(n_keys) + 1, 0);
      for (int64_t k : keys) ++c.start[k + 1];
      for (int64_t i = 0; i < n_keys; ++i) c.start[i + 1] += c.start[i];
      std::vector<int64_t> next(c.start.begin(), c.start.end() - 1);
      c.index.resize(keys.size());
      c.value.resize(keys.size());
      for (size_t k = 0; k < keys.size(); ++k) {
        const int64_t at = next[keys[k]]++;
        c.index[at] = other[k];
        c.value[at] = vals[k];
      }
    };
    compress(rows, D, cols, by_row_);
    compress(cols, d, rows, by_col_);
  }
  torch::Tensor apply(const torch::Tensor& t) const override;
  // y = P x (by rows) or x = P^T y (by columns) on float32 CPU memory.
  struct Compressed {
    std::vector<int64_t> start, index;
    std::vector<float> value;
    void multiply(const float* x, float* y, int64_t n) const {
      at::parallel_for(0, n, 4096, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          float acc = 0;
          for (int64_t k = start[r]; k < start[r + 1]; ++k) acc += value[k] * x[index[k]];
          y[r] = acc;
        }
      });
    }
  };
  // P x by rows, P^T y by columns (each a gather: the rows or columns split over threads)
  void forward_cpu(const float* x, float* out) const override { by_row_.multiply(x, out, D_); }
  void transpose_cpu(const float* y, float* out) const override { by_col_.multiply(y, out, d_); }

 private:
  Compressed by_row_, by_col_;
  mutable torch::Tensor coo_;  // for other devices and dtypes, built on first use
  torch::Tensor coo() const {
    if (!coo_.defined()) {
      std::vector<int64_t> r, c;
      for (int64_t i = 0; i < D_; ++i)
        for (int64_t k = by_row_.start[i]; k < by_row_.start[i + 1]; ++k) {
          r.push_back(i);
          c.push_back(by_row_.index[k]);
        }
      const int64_t nnz = static_cast<int64_t>(r.size());
      torch::Tensor idx = torch::stack({torch::tensor(r, torch::kInt64), torch::tensor(c, torch::kInt64)});
      torch::Tensor v = torch::from_blob(const_cast<float*>(by_row_.value.data()), {nnz}, torch::kFloat32).clone();
      coo_ = torch::sparse_coo_tensor(idx, v, {D_, d_}).coalesce();
    }
    return coo_;
  }
};

torch::Tensor SparseProjection::apply(const torch::Tensor& t) const {
  if (torch::Tensor y = apply_cpu(t); y.defined()) return y;  // LibTorch's COO product re-sorts P^T every backward
  const torch::Tensor P = coo().to(t.device());
  return torch::mm(t.scalar_type() == torch::kFloat32 ? P : P.to(t.scalar_type()), t.unsqueeze(1)).squeeze(1);
}

class FastfoodProjection : public CpuKernelProjection {
 public:
  FastfoodProjection(int64_t D, int64_t d, uint64_t seed) : CpuKernelProjection(D, d) {
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
  torch::Tensor apply(const torch::Tensor& t) const override;
  // P x and P^T y on float32 CPU memory, fused (the butterflies in place, one pass per other factor).
  void forward_cpu(const float* x, float* out) const override;
  void transpose_cpu(const float* y, float* out) const override;
  torch::Tensor apply_ops(const torch::Tensor& t) const {
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

// Work buffers kept per thread: a fresh 1 MB buffer per call costs page faults on every step.
std::vector<float>& work_buffer(int k, int64_t n) {
  thread_local std::vector<float> buffers[2];
  buffers[k].resize(static_cast<size_t>(n));
  return buffers[k];
}

void FastfoodProjection::forward_cpu(const float* x, float* out) const {
  std::vector<float>& a = work_buffer(0, L_);
  std::vector<float>& b = work_buffer(1, L_);
  const float* B = B_.data_ptr<float>();
  const float* G = G_.data_ptr<float>();
  const int64_t* Pi = Pi_.data_ptr<int64_t>();
  const int64_t d = d_, D = D_;
  at::parallel_for(0, L_, 32768, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) a[i] = i < d ? x[i] * B[i] : 0.0f;
  });
  wht_inplace(a.data(), L_);
  at::parallel_for(0, L_, 32768, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) b[i] = a[Pi[i]] * G[i];
  });
  wht_inplace(b.data(), L_);
  const float s = static_cast<float>(scale_);
  at::parallel_for(0, D, 32768, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) out[i] = b[i] * s;
  });
}

void FastfoodProjection::transpose_cpu(const float* y, float* out) const {
  // P^T = B H Pi^T G H (scaled): H and the diagonals are symmetric, Pi^T scatters what Pi gathered.
  std::vector<float>& a = work_buffer(0, L_);
  std::vector<float>& b = work_buffer(1, L_);
  const float* B = B_.data_ptr<float>();
  const float* G = G_.data_ptr<float>();
  const int64_t* Pi = Pi_.data_ptr<int64_t>();
  const float s = static_cast<float>(scale_);
  const int64_t D = D_;
  at::parallel_for(0, L_, 32768, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) a[i] = i < D ? y[i] * s : 0.0f;
  });
  wht_inplace(a.data(), L_);
  at::parallel_for(0, L_, 32768, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) b[Pi[i]] = a[i] * G[i];
  });
  wht_inplace(b.data(), L_);
  for (int64_t i = 0; i < d_; ++i) out[i] = b[i] * B[i];
}

torch::Tensor FastfoodProjection::apply(const torch::Tensor& t) const {
  if (torch::Tensor y = apply_cpu(t); y.defined()) return y;
  return apply_ops(t);
}
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

Subspace::Subspace(torch::nn::Module& module, const ProjectionSpec& spec, double l2) : l2_(l2) {
  params_ = module.parameters();
  for (const auto& b : module.named_buffers()) buffers_.emplace_back(checkpoint_name(b.key()), b.value());
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
  const torch::Tensor offset = offset_.detach();
  int64_t off = 0;
  for (auto& p : params_) {
    torch::Tensor flat = p.view({-1});  // theta0 + P theta_d written straight into the parameter
    at::add_out(flat, theta0_.slice(0, off, off + p.numel()), offset.slice(0, off, off + p.numel()));
    off += p.numel();
  }
}

void Subspace::backward(double l2) {
  // g + l2 theta gathered in one pass per parameter (theta is what load() wrote into them)
  if (!grad_.defined() || grad_.numel() != theta0_.numel() || grad_.device() != theta0_.device()) grad_ = torch::empty_like(theta0_);
  {
    torch::NoGradGuard no_grad;
    int64_t off = 0;
    for (auto& p : params_) {
      torch::Tensor slot = grad_.slice(0, off, off + p.numel());
      if (p.grad().defined())
        at::add_out(slot, p.grad().reshape(-1).to(torch::kFloat32), p.detach().reshape(-1).to(torch::kFloat32), l2);
      else
        at::mul_out(slot, p.detach().reshape(-1).to(torch::kFloat32), l2);
      off += p.numel();
    }
  }
  torch::Tensor offset = offset_.defined() ? offset_ : projection_->apply(theta_d_);
  offset_ = torch::Tensor();
  offset.backward(grad_);
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
