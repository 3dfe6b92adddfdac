// Multi-marginal Schrodinger bridges with iterative reference refinement (Shen, Berlinghieri & Broderick,
// AISTATS 2025; reference code YunyiShen/SBIRR): a bridge per pair of adjacent snapshots by iterative
// proportional fitting with drift regression (Vargas et al. 2021), the stitched trajectories, the
// parametric reference refitted to them, rounds until it settles; W2 to held-out snapshots.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "paramkit/core/resumable.h"
#include "paramkit/sb/drift.h"
#include "paramkit/sb/regress.h"
#include "paramkit/sb/snapshots.h"

namespace paramkit::sb {

struct BridgeOptions {
  double sigma = 0.1, dt = 0.02;
  int64_t ipf_iterations = 10;  // forward/backward alternations per bridge
  RegressorOptions regressor;
  void validate() const;
};

// The learned drifts of one interval: forward f(x, t) and backward b(x, t), regressed on the paths of
// the previous half-bridge (the reference drives only the first simulation).
struct Bridge {
  double t0 = 0, t1 = 1;
  std::unique_ptr<Regressor> forward, backward;
};

using MeanDrift = std::function<torch::Tensor(const torch::Tensor& x)>;  // the reference drift f_ref(x)

// IPF between x0 (at t0) and x1 (at t1) under the reference dX = f_ref dt + sigma dW.
Bridge fit_bridge(const torch::Tensor& x0, const torch::Tensor& x1, double t0, double t1, const MeanDrift& ref, const BridgeOptions& o,
                  uint64_t seed);
// Paths [steps + 1, n, d] through a bridge: forward from its t0 (to `until`, default t1) or backward from t1.
Path run_forward(const Bridge& b, const MeanDrift& ref, const torch::Tensor& x0, const BridgeOptions& o, at::Generator gen, double until = NAN);
Path run_backward(const Bridge& b, const MeanDrift& ref, const torch::Tensor& x1, const BridgeOptions& o, at::Generator gen);

struct RefineOptions {
  BridgeOptions bridge;
  DriftClass reference;               // brownian: the vanilla SB baseline
  std::vector<double> start;          // initial theta (empty: the class's default)
  int64_t rounds = 10;
  int64_t fit_iters = 2000;           // nonlinear classes: Adam steps per refit
  int64_t max_transitions = 200000;   // transitions used per refit (a seeded subset)
  int64_t eval_points = 1000;         // W2: particles per held-out snapshot
  double tolerance = 1e-3;            // stop when max |theta change| / (1 + |theta|) falls below it
  CheckpointOptions checkpoint;       // units: rounds
  void validate() const;
};

struct RoundRecord {
  int64_t round = 0;
  std::vector<double> theta;               // the reference used in this round
  std::vector<double> theta_next;          // refitted from this round's trajectories
  std::vector<double> heldout_w2;          // per held-out time
  double mean_w2 = NAN;
  double seconds_bridges = 0, seconds_refit = 0, seconds_eval = 0;
};
nlohmann::json to_json(const RoundRecord& r);

struct RefineResult {
  std::vector<RoundRecord> rounds;
  std::vector<double> theta;   // the final reference
  bool converged = false, finished = false, resumed = false;
  std::vector<Bridge> bridges;  // of the last round
  Path trajectories;            // stitched paths of the last round (a subset of particles: see stitch)
};

// Full trajectories over [t_0, t_K] for up to `per_snapshot` particles of each snapshot: forward through
// the later intervals, backward through the earlier ones; [grid, n, d] with the grid of every interval
// joined.
Path stitch(const std::vector<Bridge>& bridges, const MeanDrift& ref, const Snapshots& s, const BridgeOptions& o, int64_t per_snapshot,
            at::Generator gen);
// W2 between held-out snapshots and the training snapshot before each pushed forward to its time.
std::vector<double> heldout_w2(const std::vector<Bridge>& bridges, const MeanDrift& ref, const Snapshots& train, const Snapshots& held,
                               const BridgeOptions& o, int64_t points, uint64_t seed);

// Rounds of bridges -> stitched trajectories -> refitted reference, resumable at round boundaries
// (SIGINT/SIGTERM stop within a second, the checkpoint keeps the finished rounds). `on_round` sees
// each finished round.
RefineResult refine(const Snapshots& train, const Snapshots& held, const RefineOptions& o, uint64_t seed,
                    const std::function<void(const RoundRecord&)>& on_round = {});

}  // namespace paramkit::sb
