// ReaLHF's parameter reallocation between parallel layouts (issue 20): a model's tensors sharded by a
// (pp, tp, dp) layout (pipeline stages own contiguous layer ranges; tensor-parallel ranks own slices of
// column- or row-parallel weights; data-parallel replicas hold copies), and the transfer plan that turns
// one layout into another: pipeline stages exchange the intersection of their layer ranges, tensor
// shards split or gather where the degrees differ, and every destination replica is fed from one source
// replica (d mod dp_source). The plan is pure bookkeeping; `execute_in_process` runs it on in-memory
// shards (the reference the multi-process execution must equal, bit for bit).
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "paramkit/lm/model.h"

namespace paramkit::rlhf::realloc {

struct Layout {
  int64_t pp = 1, tp = 1, dp = 1;
  int64_t ranks() const { return pp * tp * dp; }
  // Rank r's coordinates: t = r % tp, s = (r / tp) % pp, d = r / (tp pp).
  int64_t stage(int64_t r) const { return (r / tp) % pp; }
  int64_t tp_rank(int64_t r) const { return r % tp; }
  int64_t replica(int64_t r) const { return r / (tp * pp); }
  int64_t rank(int64_t d, int64_t s, int64_t t) const { return (d * pp + s) * tp + t; }
};

// A tensor of the model: its layer (-1: the embedding, owned by the first stage; `layers`: the head,
// owned by the last), its shape, and the axis tensor parallelism splits (-1: replicated). groups > 1:
// the axis holds that many blocks side by side (GPT-2's fused q, k, v) and each is split alike.
// also_last: held by the last stage too (an embedding tied to the head).
struct TensorSpec {
  std::string name;
  int64_t layer = 0;
  std::vector<int64_t> shape;
  int64_t split_axis = -1;
  int64_t groups = 1;
  bool also_last = false;
  int64_t unit = 1;  // the split axis splits in whole units of this size (an attention head's width)
};
struct ModelLayout {
  int64_t layers = 1;
  std::vector<TensorSpec> tensors;
  c10::ScalarType dtype = torch::kFloat;
};
// Of a shard x of tensor t, the part [begin, begin + length) of every block of the split axis (x itself
// when t is replicated); a view.
torch::Tensor slice_of(const TensorSpec& t, const torch::Tensor& x, int64_t begin, int64_t length);
// The tensors of a transformer like part 1's (per layer: qkv and MLP-in column-parallel, attention out
// and MLP-out row-parallel, norms replicated; vocabulary-parallel embedding and head).
ModelLayout transformer_layout(int64_t layers, int64_t hidden, int64_t mlp, int64_t vocab);

// The tensors of a causal LM (lm::CausalLM) under transformers' names, split as lm::Shard splits them
// (query/key/value and MLP-in by columns, attention-out and MLP-out by rows, the rest whole).
ModelLayout lm_layout(const lm::LmConfig& c, lm::Head head, c10::ScalarType dtype = torch::kFloat);

// Every layout of exactly `ranks` ranks that the model admits (validate), pp then tp ascending.
std::vector<Layout> layouts(const ModelLayout& m, int64_t ranks);

// UsageError when tp does not divide every split axis (in whole units: heads) or pp exceeds the layers.
void validate(const ModelLayout& m, const Layout& l);
// First and one-past-last layer of stage s (the first L % pp stages take one more).
std::pair<int64_t, int64_t> stage_layers(int64_t layers, int64_t pp, int64_t s);
// Whether rank r of layout l holds tensor `t`, and which slice [begin, end) of its split axis.
bool holds(const ModelLayout& m, const Layout& l, int64_t r, const TensorSpec& t, int64_t& begin, int64_t& end);

struct Piece {
  int64_t src = 0, dst = 0;       // ranks of the source and destination layouts
  std::string tensor;
  int64_t src_begin = 0, dst_begin = 0, length = 0;  // along the split axis (the whole tensor when replicated)
  int64_t bytes = 0;              // at the layout's element size
};
struct TransferPlan {
  std::vector<Piece> pieces;
  int64_t bytes = 0, local_bytes = 0;  // local: source and destination are the same device
};
// `src_devices`/`dst_devices`: the device of each rank of the two layouts (the meshes may overlap).
TransferPlan plan_transfer(const ModelLayout& m, const Layout& from, const Layout& to, const std::vector<int64_t>& src_devices,
                           const std::vector<int64_t>& dst_devices);

// The shape of t's shard holding [begin, end) of each block of its split axis.
std::vector<int64_t> local_shape(const TensorSpec& t, int64_t begin, int64_t end);

using Shards = std::vector<std::map<std::string, torch::Tensor>>;  // per rank: name -> shard
// The shards of a full state dict under a layout (the direct re-shard).
Shards shard(const ModelLayout& m, const Layout& l, const std::map<std::string, torch::Tensor>& full);
// Runs a plan on in-memory shards.
Shards execute_in_process(const ModelLayout& m, const Layout& from, const Layout& to, const TransferPlan& plan, const Shards& src);

}  // namespace paramkit::rlhf::realloc
