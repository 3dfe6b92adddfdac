// Weights generated from a smaller vector (Li et al., "Measuring the Intrinsic Dimension of Objective
// Landscapes", ICLR 2018): theta = theta0 + P theta_d for any module, theta0 its frozen initial
// parameters (flattened in named_parameters order), P a fixed D x d random projection regenerated
// exactly from a seed, theta_d (starting at 0) the only trained tensor.
//
// Gradients reach theta_d through P without a D x d matrix: the module runs on theta written into its
// parameters, its full gradient g = dL/dtheta is formed as usual, and theta_d.grad = P^T g comes from
// differentiating P theta_d against g (dense: a matrix product; sparse: a sparse one; Fastfood: the
// transposed butterflies, O(D log D) time and O(D) memory).
//
//   Subspace s(model, {ProjectionKind::fastfood, 1000, seed});
//   s.load();                      // theta0 + P theta_d into the module
//   loss = ...model forward...; loss.backward();
//   s.backward(1e-5);              // theta_d.grad = P^T (dL/dtheta + 1e-5 theta)
// or hand it to nn::train_classifier as its WeightGenerator (nn/generated.h).
//   optimizer(theta_d).step();
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "paramkit/io/safetensors.h"
#include "paramkit/nn/generated.h"
#include "paramkit/nn/models.h"

namespace paramkit::nn {

enum class ProjectionKind { dense, sparse, fastfood };
ProjectionKind parse_projection(const std::string& name, const std::string& flag);  // UsageError naming flag
const char* projection_name(ProjectionKind k);

struct ProjectionSpec {
  ProjectionKind kind = ProjectionKind::fastfood;
  int64_t d = 0;
  uint64_t seed = 0;
  // Dense P is D x d floats: refused (UsageError naming --memory-budget and the bytes it needs) above this.
  int64_t memory_budget = int64_t{4} << 30;
  // Dense only: orthonormal columns (QR of the Gaussian matrix; d <= D), so that SGD in a d = D subspace
  // takes the steps of direct training.
  bool orthonormal = false;
};

// The unnormalised Walsh-Hadamard transform along the last dimension (a power of two), differentiable.
torch::Tensor walsh_hadamard(const torch::Tensor& x);

// A fixed D x d projection: apply(theta_d [d]) -> [D] (float32, differentiable in theta_d).
// layer_sizes: the parameter tensors' sizes (sum D); sparse uses density 1/sqrt(size) per layer.
class Projection {
 public:
  virtual ~Projection() = default;
  virtual torch::Tensor apply(const torch::Tensor& theta_d) const = 0;
  // P as a dense D x d matrix (tests, small D only): the columns apply(e_j).
  torch::Tensor materialize() const;
  int64_t D() const { return D_; }
  int64_t d() const { return d_; }

 protected:
  Projection(int64_t D, int64_t d) : D_(D), d_(d) {}
  int64_t D_, d_;
};

// Columns of dense and sparse P have unit L2 norm over the whole model (all layers together); Fastfood
// is H G Pi H B on theta_d padded to L = 2^ceil(log2 D), sliced to D and divided by
// sqrt(L sum G^2) sqrt(D / L), so that E ||P x||^2 = ||x||^2. Regenerated exactly from spec.seed.
// UsageError for d < 1, d > D (Fastfood: d > L) or a dense P over the memory budget.
std::unique_ptr<Projection> make_projection(const ProjectionSpec& spec, const std::vector<int64_t>& layer_sizes);

class Subspace : public WeightGenerator {
 public:
  // Records theta0 from the module's current parameters (CPU or the parameters' device, float32).
  // l2: the coefficient of the L2 term on the full theta that backward() adds (l2 theta).
  Subspace(torch::nn::Module& module, const ProjectionSpec& spec, double l2 = 0);
  // theta0 + P theta_d written into the module's parameters (no autograd history in them; P theta_d
  // keeps its graph for the next backward()).
  void load() override;
  // theta_d.grad += P^T (g + l2 * theta), g the parameters' gradients (zero where undefined); the
  // parameters' gradients are then cleared. backward() uses the constructor's l2.
  void backward(double l2);
  void backward() override { backward(l2_); }
  std::vector<std::pair<std::string, torch::Tensor>> trainable() override { return {{"theta_d", theta_d_}}; }
  std::vector<std::pair<std::string, torch::Tensor>> state() override { return buffers_; }
  torch::Tensor& theta_d() { return theta_d_; }
  int64_t D() const { return projection_->D(); }
  int64_t d() const { return projection_->d(); }
  const Projection& projection() const { return *projection_; }
  std::vector<int64_t> layer_sizes() const;
  torch::Tensor theta0() const { return theta0_; }

 private:
  std::vector<torch::Tensor> params_;
  std::vector<std::pair<std::string, torch::Tensor>> buffers_;  // names with '.' as '__'
  torch::Tensor theta0_, theta_d_, offset_;  // offset_: P theta_d of the last load(), with its graph
  torch::Tensor grad_;                        // dL/dtheta + l2 theta, reused between steps
  std::unique_ptr<Projection> projection_;
  double l2_ = 0;
};

// A subspace solution stored as "seed + d floats": theta_d (float32) in a safetensors file whose
// metadata "paramkit.subspace" holds {"model": ModelSpec, "projection", "d", "D", "seed", "theta0"}
// (theta0: a fingerprint of the initial weights, so that a rebuild with another LibTorch whose
// initialisers differ is refused instead of expanding to wrong weights). The model and P share the seed.
struct SubspaceSolution {
  ModelSpec model;
  ProjectionSpec projection;  // kind, d, seed
  int64_t D = 0;
  std::string theta0;     // fingerprint_weights(theta0)
  torch::Tensor theta_d;  // [d] float32, CPU
};
// FNV-1a (64 bit) over the float32 bytes of a contiguous CPU copy, as 16 hex digits.
std::string fingerprint_weights(const torch::Tensor& flat);
void save_subspace_solution(const std::filesystem::path& path, const SubspaceSolution& solution, Metadata metadata);
// InputError naming the file and field for anything missing or malformed.
SubspaceSolution load_subspace_solution(const std::filesystem::path& path);
// The model of the solution with theta0 + P theta_d in its parameters (on the CPU). Error (exit 1) when the
// rebuilt theta0 does not match the recorded fingerprint or parameter count.
std::shared_ptr<torch::nn::Module> expand_subspace_solution(const SubspaceSolution& solution,
                                                            std::function<torch::Tensor(torch::Tensor)>& forward);

}  // namespace paramkit::nn
