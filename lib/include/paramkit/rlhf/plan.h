// ReaLHF execution plans (Mei et al. 2024, "ReaLHF: Optimized RLHF Training for Large Language Models
// through Parameter Reallocation"): an RLHF iteration as a dataflow graph of model function calls, an
// assignment of a device mesh and a (dp, tp, pp) strategy to each call, a cost model (compute,
// tensor/pipeline/data-parallel communication, parameter reallocation between consecutive layouts of the
// same model, memory per device with an out-of-memory penalty), list scheduling of the calls on their
// meshes, and the MCMC search over plans (one call's assignment changed per move, Metropolis acceptance).
// Runs for a declared cluster that need not be this machine. No LibTorch.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace paramkit::rlhf::plan {

struct Cluster {
  int64_t nodes = 1, gpus_per_node = 8;
  double flops = 312e12;        // peak bf16 FLOP/s per GPU
  double efficiency = 0.45;     // achieved fraction of the peak in compute-bound kernels with ample work per GPU
  double memory = 80e9;         // bytes per GPU
  double hbm_bw = 2.0e12;       // bytes/s per GPU (memory-bound decoding)
  double intra_bw = 300e9;      // bytes/s per GPU within a node (NVLink)
  double inter_bw = 25e9;       // bytes/s per GPU across nodes (InfiniBand)
  double latency = 20e-6;       // seconds per collective or point-to-point message (small messages)
  double half_tokens = 1024;    // tokens per device and kernel at which matmuls reach half the achieved rate
  double layer_overhead = 50e-6; // seconds per layer and forward pass besides its FLOPs (kernel launches, dispatch)
  double step_overhead = 0;      // seconds per generated token besides the layers (sampling, masks)
  int64_t world() const { return nodes * gpus_per_node; }
  void validate() const;        // UsageError naming the field
};
Cluster cluster_from_json(const nlohmann::json& j, const std::string& source);
nlohmann::json to_json(const Cluster& c);

struct ModelSize {
  std::string name = "7b";
  int64_t layers = 32, hidden = 4096, vocab = 32000;
  int64_t heads = 0;      // 0: hidden / 128 (the named sizes); set for a model read from its config
  int64_t n_heads() const { return heads > 0 ? heads : hidden / 128; }
  double params() const;  // 12 L h^2 + 2 V h
  void validate() const;
};
// Llama-like sizes: 7b, 13b, 34b, 70b (UsageError for another name).
ModelSize model_size(const std::string& name);

// A model function call of the RLHF graph.
struct Call {
  std::string name;      // actor_gen, ref_inf, reward_inf, critic_inf, actor_train, critic_train
  std::string model;     // actor, ref, reward, critic: calls of the same model share parameters
  std::string kind;      // generate | inference | train
  ModelSize size;
  std::vector<int> deps; // indices of the calls it waits for
};
struct Workload {
  std::string algo = "ppo";  // ppo (actor, critic, ref, reward) | remax (no critic; a second, greedy generation)
  int64_t batch = 512, prompt_len = 256, gen_len = 256;
  int64_t micro_batches = 8;  // pipeline micro-batches per call
  std::vector<Call> calls;
};
// The graph of one iteration for actor/critic sizes.
// with_ref false: no reference model (no KL term), no ref_inf call.
Workload rlhf_workload(const std::string& algo, const ModelSize& actor, const ModelSize& critic, int64_t batch, int64_t prompt_len,
                       int64_t gen_len, bool with_ref = true);

struct Mesh {
  int64_t first = 0, size = 1;  // devices [first, first + size) of the cluster's numbering (node-major)
};
struct Strategy {
  int64_t dp = 1, tp = 1, pp = 1;
  bool zero3 = false;  // ZeRO-3: weights, gradients and Adam states sharded over dp (tp = pp = 1), gathered per use
};
struct Assignment {
  Mesh mesh;
  Strategy s;
};
using Plan = std::vector<Assignment>;  // one per call
nlohmann::json plan_to_json(const Workload& w, const Plan& p);
// UsageError naming the call for a mesh outside the world, a strategy whose product is not the mesh size,
// a tensor degree that does not divide the heads / hidden size, a pipeline degree above the layers.
Plan plan_from_json(const nlohmann::json& j, const Workload& w, const Cluster& c, const std::string& source);
void validate_plan(const Plan& p, const Workload& w, const Cluster& c);

struct CallCost {
  double compute = 0, comm = 0, realloc = 0, memory = 0;  // seconds, seconds, seconds, bytes per GPU
  double total() const { return compute + comm + realloc; }
};
// The cost of call i under assignment a, `prev` the layout the same model had before (nullptr: none).
CallCost call_cost(const Workload& w, const Cluster& c, int i, const Assignment& a, const Assignment* prev);

struct Schedule {
  std::vector<double> start, end;
  std::vector<CallCost> cost;
  double makespan = 0;
  bool oom = false;
  double score = 0;  // makespan, times 10 (plus the excess) with an out-of-memory call
};
// List scheduling in the graph's topological order: a call starts when its dependencies have ended and
// every device of its mesh is free.
Schedule simulate(const Workload& w, const Cluster& c, const Plan& p);

// Every (mesh, strategy) a call may take: meshes of 1, 2, 4, ... devices aligned to their size (within a
// node, or whole nodes), every factorisation dp tp pp with tp within a node dividing the heads.
std::vector<Assignment> candidates(const Workload& w, const Cluster& c, int call);

struct SearchOptions {
  int64_t iterations = 200000;
  double temperature = 0.05;  // Metropolis: accept a worse plan with exp(-(score' - score) / (T score))
  void validate() const;
};
struct SearchResult {
  Plan best;
  Schedule schedule;
  int64_t accepted = 0, evaluated = 0;
};
// MCMC from `start` (empty: the better of fixed_layout and heuristic_plan); seeded.
SearchResult search(const Workload& w, const Cluster& c, const SearchOptions& o, uint64_t seed, Plan start = {});

// Baselines: every call on the whole cluster with one shared strategy, the best such (a DeepSpeed-Chat-like
// fixed layout); and the heuristic plan: generation with tp within a node and dp across, training with
// the best full-cluster strategy, inference calls split over halves of the cluster.
Plan fixed_layout(const Workload& w, const Cluster& c);
// DeepSpeed-Chat-like: training and inference with ZeRO-3 over the whole cluster, generation by its hybrid
// engine (tensor parallel within a node, replicas across), parameters regathered between the two.
Plan deepspeed_chat_layout(const Workload& w, const Cluster& c);
Plan heuristic_plan(const Workload& w, const Cluster& c);
// Achieved FLOP/s of an iteration: the graph's model FLOPs / makespan.
double iteration_flops(const Workload& w);

}  // namespace paramkit::rlhf::plan
