// A causal LM (lm::CausalLM) executed across processes under a (pp, tp, dp) layout on a mesh of them
// (issue 20, ReaLHF's model function calls): Megatron-style tensor parallelism inside each pipeline
// stage (lm::Shard, with the two all-reduces as autograd functions over the stage's tensor-parallel
// group), pipeline stages exchanging activations and gradients point to point with GPipe micro-batches,
// and data-parallel replicas each taking a contiguous share of the batch rows, their gradients summed.
// Every operation equals the single-process one (within floating-point reordering): forward outputs,
// gradients, generated tokens (for one replica; with several, each replica samples its rows from the
// generator seeded from the seed and the replica, so samples differ from one process's but follow the same
// distribution).
// The parameters move between placements with rlhf/realloc.h's plans executed by dist::execute.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "paramkit/lm/generate.h"
#include "paramkit/lm/model.h"
#include "paramkit/rlhf/dist.h"
#include "paramkit/rlhf/realloc.h"

namespace paramkit::rlhf::parallel {

// Where a model function call runs: processes of the job (layout rank r on process ranks[r]) and the
// layout; micro_batches per pipeline pass (forward and training).
struct Placement {
  std::vector<int64_t> ranks;
  realloc::Layout layout;
  int64_t micro_batches = 1;
  // UsageError naming `what` when the mesh does not match the layout or leaves the world, or the model
  // cannot be split so (tp not dividing the heads or MLP width, pp above the layers).
  void validate(const lm::LmConfig& c, int64_t world, const std::string& what) const;
};
// A mesh of `size` consecutive processes from `first`.
std::vector<int64_t> mesh(int64_t first, int64_t size);

class ParallelLM {
 public:
  // Collective over the mesh: every member builds its shard (parameters uninitialised) and the groups.
  ParallelLM(dist::Group& world, const lm::LmConfig& c, lm::Head head, const Placement& p, c10::ScalarType dtype = torch::kFloat);
  bool member() const { return static_cast<bool>(shard); }
  const Placement& placement() const { return place_; }
  const realloc::ModelLayout& model_layout() const { return mlayout_; }
  int64_t layout_rank() const { return lrank_; }  // -1 outside the mesh

  lm::CausalLM shard{nullptr};
  // This process's shard by name (the parameters themselves; empty outside the mesh).
  realloc::Shards::value_type state() const;
  // Copies values into the shard (names and shapes as state()).
  void load(const realloc::Shards::value_type& values);

  // Inference on the batch (ids, mask [B, T]): each replica runs its rows, micro-batched through the
  // pipeline; on the last stage f(output rows, first row) maps its output (logits [b,T,V] or values
  // [b,T]) to a float tensor [b, ...]; every member of the mesh gets the whole [B, ...].
  using RowFn = std::function<torch::Tensor(const torch::Tensor& out, int64_t row0)>;
  torch::Tensor map_rows(const torch::Tensor& ids, const torch::Tensor& mask, const RowFn& f);

  // lm::generate's loop with this placement's forward (each replica its rows; KV caches per stage); every
  // member gets the whole result.
  lm::GenerateResult generate(const torch::Tensor& ids, const torch::Tensor& mask, const lm::GenerateOptions& o);

  // Gradients of a loss over the batch: `share(out rows, first row)` on the last stage returns the rows'
  // share of the loss (the shares of a partition of the rows sum to the batch loss). Gradients are summed
  // over the replicas (and a tied embedding's over its first and last stage); returns the batch loss on
  // every member. Parameters' .grad are accumulated (zero them first).
  double backward(const torch::Tensor& ids, const torch::Tensor& mask, const RowFn& share);
  // The global gradient norm (each tensor counted once over the mesh) and, with max_norm > 0, gradients
  // scaled as torch::nn::utils::clip_grad_norm_ does.
  double clip_grad_norm(double max_norm);

 private:
  dist::Group& world_;
  lm::LmConfig config_;
  lm::Head head_;
  Placement place_;
  realloc::ModelLayout mlayout_;
  int64_t lrank_ = -1, stage_ = 0, tp_rank_ = 0, replica_ = 0;
  std::shared_ptr<dist::Group> mesh_, tp_, replica_group_, dp_, tied_;
  lm::TensorParallelOps ops_;
  int64_t process_of(int64_t replica, int64_t stage, int64_t tp_rank) const;  // a rank of `world_`
  std::pair<int64_t, int64_t> replica_rows(int64_t batch, int64_t replica) const;
  // This stage's input for rows [row0, row0 + rows) of ids [B, T]: the ids on the first stage, else the
  // previous stage's activations [rows, T, hidden] received with `tag`.
  torch::Tensor stage_input(const torch::Tensor& ids, int64_t row0, int64_t rows, int tag);
  torch::Tensor stage(const torch::Tensor& in, const torch::Tensor& mask, lm::KvCache* cache);
  torch::Tensor gather_replicas(const torch::Tensor& mine, int64_t batch);
};

// Moves a model's parameters from one placement to another (rlhf/realloc.h's plan, run by
// dist::execute); collective over both meshes. Returns the bytes the plan moved between processes.
int64_t reallocate(dist::Group& world, const ParallelLM& from, ParallelLM& to);
// The full state dict (name -> tensor) on process `root` from a placement, or to it. `values`: tensors
// sharded like the parameters (e.g. optimizer moments; default the parameters).
std::map<std::string, torch::Tensor> gather_full(dist::Group& world, const ParallelLM& from, int64_t root,
                                                 const realloc::Shards::value_type* values = nullptr);
void scatter_full(dist::Group& world, const std::map<std::string, torch::Tensor>& full, int64_t root, ParallelLM& to);
// This process's shard of `full` (on root) under to's placement, without loading it.
realloc::Shards::value_type scatter_values(dist::Group& world, const std::map<std::string, torch::Tensor>& full, int64_t root,
                                           const ParallelLM& to);
// A tensor of any shape and dtype from group rank `root` to every member.
torch::Tensor broadcast_any(dist::Group& g, torch::Tensor t, int64_t root);

}  // namespace paramkit::rlhf::parallel
