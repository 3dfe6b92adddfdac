// PCB-Merging (Du et al., NeurIPS 2024) as the reference code computes it, split into statistics and an
// element-wise apply so the same code serves per-tensor mode (statistics of one tensor) and global
// mode (statistics over every merged parameter of a task).
#pragma once
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

namespace paramkit::merge {

struct PcbOptions {
  double ratio = 0.1;          // r: KEEP ratio of the drop step, in (0, 1]
  bool clamp = true;           // outlier clamp of |tau| to [q_lo, q_hi] quantiles
  double clamp_lo = 1e-4;      // q_lo ("min_ratio" in the reference)
  double clamp_hi = 1e-4;      // q_hi ("max_ratio")
  std::string variant = "raw"; // inter-balancing: raw, pcbpy or es
  std::vector<double> lambdas; // one per task (empty: all `lambda`)
  double lambda = 1.0;
  void validate(size_t tasks) const;
};

// Per-task statistics: clamp bounds of |tau| (stage 1) and the drop threshold and maximum of beta
// (stage 2). Index k of a sorted row of d values is the reference's sorted[k].
struct PcbStats {
  std::vector<float> lo, hi;         // clamp bounds (min/max of |tau| when clamping is off)
  std::vector<float> thr, beta_max;  // (1-r) quantile and maximum of beta
};

// Index of the reference's quantile sorted[int(d * q)] and sorted[int(d * (1 - q) - 1)].
int64_t lower_index(int64_t d, double q);
int64_t upper_index(int64_t d, double q);

// Exact order statistics of n rows of floats that arrive as a stream: `produce(sink)` calls
// sink(row, data, count) for every value of every row (any order, the same values on every call) and
// is called twice. Radix selection on the top then the bottom 16 bits of an order-preserving key:
// 64K counters per row and rank, no copy of the data. ranks[r]: 0-based ranks wanted in row r.
using RowSink = std::function<void(int64_t row, const float* data, int64_t count)>;
std::vector<std::vector<float>> select_ranks(int64_t n, const std::vector<std::vector<int64_t>>& ranks,
                                             const std::function<void(const RowSink&)>& produce,
                                             std::vector<float>* row_max = nullptr);
// The same on a [n, d] tensor in memory.
std::vector<std::vector<float>> row_ranks(const torch::Tensor& rows, const std::vector<int64_t>& ranks,
                                          std::vector<float>* row_max = nullptr);

// Stage 1 and 2 statistics from task vectors tau [n, d] (one row per task, all parameters of a scope).
void pcb_stage1(const torch::Tensor& tau, const PcbOptions& o, PcbStats& st);
// beta [n, d] for task vectors given stage-1 statistics.
torch::Tensor pcb_beta(const torch::Tensor& tau, const PcbOptions& o, const PcbStats& st);
void pcb_stage2(const torch::Tensor& beta, const PcbOptions& o, PcbStats& st);
// Merged task vector [d] from tau [n, d] and both statistics; pass beta when it is at hand (else it is
// recomputed: global mode streams and does not keep it).
torch::Tensor pcb_apply(const torch::Tensor& tau, const PcbOptions& o, const PcbStats& st,
                        const torch::Tensor& beta = torch::Tensor());

// All of it on one [n, d] matrix (per-tensor mode; global mode on the concatenation).
torch::Tensor pcb_merge(const torch::Tensor& tau, const PcbOptions& o, PcbStats* stats_out = nullptr);

}  // namespace paramkit::merge
