// ReaLHF plans: cost model, list scheduling, MCMC search, baselines.
#include "paramkit/rlhf/plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"

namespace paramkit::rlhf::plan {

void Cluster::validate() const {
  auto bad = [](const std::string& f) { throw UsageError(fmt::format("cluster: {} out of range", f)); };
  if (nodes < 1 || nodes > 65536) bad("nodes");
  if (gpus_per_node < 1 || gpus_per_node > 1024) bad("gpus_per_node");
  for (auto [v, f] : {std::pair{flops, "flops"}, {memory, "memory"}, {hbm_bw, "hbm_bw"}, {intra_bw, "intra_bw"}, {inter_bw, "inter_bw"}})
    if (!(v > 0) || !std::isfinite(v)) bad(f);
  if (!(latency >= 0 && latency < 1e3)) bad("latency");
  if (!(half_tokens >= 0 && half_tokens < 1e12)) bad("half_tokens");
  if (!(layer_overhead >= 0 && layer_overhead < 1e3)) bad("layer_overhead");
  if (!(step_overhead >= 0 && step_overhead < 1e3)) bad("step_overhead");
  if (!(efficiency > 0 && efficiency <= 1)) bad("efficiency");
}

Cluster cluster_from_json(const nlohmann::json& j, const std::string& source) {
  Cluster c;
  std::string field;
  try {
    for (auto& [k, v] : j.items()) {
      field = k;
      if (k == "nodes") c.nodes = v.get<int64_t>();
      else if (k == "gpus_per_node") c.gpus_per_node = v.get<int64_t>();
      else if (k == "flops") c.flops = v.get<double>();
      else if (k == "efficiency") c.efficiency = v.get<double>();
      else if (k == "memory") c.memory = v.get<double>();
      else if (k == "hbm_bw") c.hbm_bw = v.get<double>();
      else if (k == "intra_bw") c.intra_bw = v.get<double>();
      else if (k == "inter_bw") c.inter_bw = v.get<double>();
      else if (k == "latency") c.latency = v.get<double>();
      else if (k == "half_tokens") c.half_tokens = v.get<double>();
      else if (k == "layer_overhead") c.layer_overhead = v.get<double>();
      else if (k == "step_overhead") c.step_overhead = v.get<double>();
      else if (k != "provenance" && k != "name" && k != "measured") throw InputError(source, k, "unknown cluster field");
    }
    c.validate();
  } catch (const nlohmann::json::exception&) {
    throw InputError(source, field, "not a number of the right kind");
  } catch (const UsageError& e) {
    throw InputError(source, field, e.what());
  }
  return c;
}

nlohmann::json to_json(const Cluster& c) {
  return {{"nodes", c.nodes}, {"gpus_per_node", c.gpus_per_node}, {"flops", c.flops}, {"efficiency", c.efficiency}, {"memory", c.memory},
          {"hbm_bw", c.hbm_bw}, {"intra_bw", c.intra_bw}, {"inter_bw", c.inter_bw}, {"latency", c.latency}, {"half_tokens", c.half_tokens},
          {"layer_overhead", c.layer_overhead}, {"step_overhead", c.step_overhead}};
}

double ModelSize::params() const {
  const double h = static_cast<double>(hidden);
  return 12.0 * static_cast<double>(layers) * h * h + 2.0 * static_cast<double>(vocab) * h;
}
void ModelSize::validate() const {
  if (heads > 0) {
    if (layers < 1 || layers > 100000 || hidden < 1 || hidden > 1000000 || hidden % heads || vocab < 1)
      throw UsageError(fmt::format("model {}: layers >= 1, hidden a multiple of the heads, vocab >= 1", name));
    return;
  }
  if (layers < 1 || layers > 100000 || hidden < 128 || hidden > 1000000 || hidden % 128 || vocab < 1)
    throw UsageError(fmt::format("model {}: layers >= 1, hidden a multiple of 128, vocab >= 1", name));
}

ModelSize model_size(const std::string& name) {
  if (name == "7b") return {"7b", 32, 4096, 32000};
  if (name == "13b") return {"13b", 40, 5120, 32000};
  if (name == "34b") return {"34b", 48, 8192, 32000};
  if (name == "70b") return {"70b", 80, 8192, 32000};
  throw UsageError(fmt::format("model size '{}': expected 7b, 13b, 34b or 70b", name));
}

Workload rlhf_workload(const std::string& algo, const ModelSize& actor, const ModelSize& critic, int64_t batch, int64_t prompt_len, int64_t gen_len,
                       bool with_ref) {
  actor.validate();
  critic.validate();
  if (batch < 1 || prompt_len < 1 || gen_len < 1) throw UsageError("workload: batch, prompt and generation lengths must be positive");
  Workload w;
  w.algo = algo;
  w.batch = batch;
  w.prompt_len = prompt_len;
  w.gen_len = gen_len;
  if (algo == "ppo") {
    w.calls = {{"actor_gen", "actor", "generate", actor, {}},          {"reward_inf", "reward", "inference", critic, {0}},
               {"ref_inf", "ref", "inference", actor, {0}},            {"critic_inf", "critic", "inference", critic, {0}},
               {"actor_train", "actor", "train", actor, {1, 2, 3}},    {"critic_train", "critic", "train", critic, {1, 2, 3}}};
  } else if (algo == "remax") {
    w.calls = {{"actor_gen", "actor", "generate", actor, {}},       {"actor_greedy_gen", "actor", "generate", actor, {}},
               {"reward_inf", "reward", "inference", critic, {0, 1}}, {"ref_inf", "ref", "inference", actor, {0}},
               {"actor_train", "actor", "train", actor, {2, 3}}};
  } else if (algo == "grpo" || algo == "rloo") {  // batch: the sampled rows (prompts x group size)
    w.calls = {{"actor_gen", "actor", "generate", actor, {}},
               {"reward_inf", "reward", "inference", critic, {0}},
               {"ref_inf", "ref", "inference", actor, {0}},
               {"actor_train", "actor", "train", actor, {1, 2}}};
  } else {
    throw UsageError(fmt::format("--algo '{}': expected ppo, remax, grpo or rloo", algo));
  }
  if (!with_ref) {  // drop ref_inf; later calls' dependencies renumbered
    size_t r = 0;
    while (w.calls[r].name != "ref_inf") ++r;
    w.calls.erase(w.calls.begin() + static_cast<std::ptrdiff_t>(r));
    for (auto& c : w.calls) {
      std::vector<int> deps;
      for (int d : c.deps)
        if (d != static_cast<int>(r)) deps.push_back(d > static_cast<int>(r) ? d - 1 : d);
      c.deps = deps;
    }
  }
  return w;
}

nlohmann::json plan_to_json(const Workload& w, const Plan& p) {
  nlohmann::json calls = nlohmann::json::array();
  for (size_t i = 0; i < p.size(); ++i)
    calls.push_back({{"call", w.calls[i].name},
                     {"mesh", {{"first", p[i].mesh.first}, {"size", p[i].mesh.size}}},
                     {"dp", p[i].s.dp},
                     {"tp", p[i].s.tp},
                     {"pp", p[i].s.pp},
                     {"zero3", p[i].s.zero3},
                     {"micro_batches", w.micro_batches}});
  return {{"algo", w.algo}, {"calls", calls}};
}

namespace {
bool divides(int64_t a, int64_t b) { return a > 0 && b % a == 0; }
int64_t heads(const ModelSize& m) { return m.n_heads(); }
}  // namespace

void validate_plan(const Plan& p, const Workload& w, const Cluster& c) {
  if (p.size() != w.calls.size()) throw UsageError(fmt::format("plan: {} assignments for {} calls", p.size(), w.calls.size()));
  for (size_t i = 0; i < p.size(); ++i) {
    const auto& a = p[i];
    const auto& call = w.calls[i];
    auto bad = [&](const std::string& why) { throw UsageError(fmt::format("plan, call {}: {}", call.name, why)); };
    if (a.mesh.size < 1 || a.mesh.first < 0 || a.mesh.first + a.mesh.size > c.world())
      bad(fmt::format("mesh [{}, {}) is outside the {} devices of the cluster", a.mesh.first, a.mesh.first + a.mesh.size, c.world()));
    if (a.s.dp < 1 || a.s.tp < 1 || a.s.pp < 1 || a.s.dp * a.s.tp * a.s.pp != a.mesh.size)
      bad(fmt::format("dp {} x tp {} x pp {} is not the mesh size {}", a.s.dp, a.s.tp, a.s.pp, a.mesh.size));
    if (!divides(a.s.tp, heads(call.size))) bad(fmt::format("tp {} does not divide the {} heads", a.s.tp, heads(call.size)));
    if (a.s.tp > c.gpus_per_node) bad(fmt::format("tp {} spans nodes ({} GPUs per node)", a.s.tp, c.gpus_per_node));
    if (a.s.pp > call.size.layers) bad(fmt::format("pp {} exceeds the {} layers", a.s.pp, call.size.layers));
    if (a.s.dp > w.batch) bad(fmt::format("dp {} exceeds the batch of {}", a.s.dp, w.batch));
    if (a.s.zero3 && (a.s.tp != 1 || a.s.pp != 1)) bad("zero3 shards over data parallelism only (tp = pp = 1)");
  }
}

Plan plan_from_json(const nlohmann::json& j, const Workload& w, const Cluster& c, const std::string& source) {
  Plan p(w.calls.size());
  std::vector<bool> seen(w.calls.size(), false);
  try {
    for (const auto& e : j.at("calls")) {
      const std::string name = e.at("call").get<std::string>();
      size_t i = 0;
      while (i < w.calls.size() && w.calls[i].name != name) ++i;
      if (i == w.calls.size()) throw InputError(source, "calls", fmt::format("unknown call '{}' for {}", name, w.algo));
      p[i].mesh = {e.at("mesh").at("first").get<int64_t>(), e.at("mesh").at("size").get<int64_t>()};
      p[i].s = {e.at("dp").get<int64_t>(), e.at("tp").get<int64_t>(), e.at("pp").get<int64_t>(), e.value("zero3", false)};
      seen[i] = true;
    }
  } catch (const nlohmann::json::exception&) {
    throw InputError(source, "calls", "each call needs call, mesh {first, size}, dp, tp, pp");
  }
  for (size_t i = 0; i < seen.size(); ++i)
    if (!seen[i]) throw InputError(source, "calls", fmt::format("no assignment for call {}", w.calls[i].name));
  try {
    validate_plan(p, w, c);
  } catch (const UsageError& e) {
    throw InputError(source, "calls", e.what());
  }
  return p;
}

CallCost call_cost(const Workload& w, const Cluster& c, int i, const Assignment& a, const Assignment* prev) {
  const Call& call = w.calls[static_cast<size_t>(i)];
  const double N = call.size.params(), h = static_cast<double>(call.size.hidden), L = static_cast<double>(call.size.layers);
  const double dp = static_cast<double>(a.s.dp), tp = static_cast<double>(a.s.tp), pp = static_cast<double>(a.s.pp);
  const double mesh = static_cast<double>(a.mesh.size), B = static_cast<double>(w.batch) * (call.name == "reward_inf" && w.algo == "remax" ? 2 : 1);
  const double P = static_cast<double>(w.prompt_len), G = static_cast<double>(w.gen_len), m = static_cast<double>(w.micro_batches);
  // Kernels reach the cluster's efficiency only with enough work per GPU: x / (x + half_tokens) of it for
  // x tokens per GPU and micro-batch (small per-device batches, the reason to give calls smaller meshes).
  const double tokens_all = B * (call.kind == "generate" ? P : P + G);
  const double per_gpu = tokens_all / dp / m;
  const double rate = c.flops * c.efficiency * per_gpu / (per_gpu + c.half_tokens), bubble = 1 + (pp - 1) / m;
  const double latency = c.latency;  // per collective or message
  const double tp_bw = c.intra_bw, dp_bw = a.mesh.size > c.gpus_per_node ? c.inter_bw : c.intra_bw;
  const double allreduce = tp > 1 ? 2 * (tp - 1) / tp : 0;  // ring all-reduce traffic factor
  CallCost k;
  const double shard = a.s.zero3 ? 2 * N / mesh : 2 * N / (tp * pp);  // bf16 weights held per GPU
  const double gather = a.s.zero3 && dp > 1 ? 2 * N * (dp - 1) / dp / dp_bw : 0;  // ZeRO-3: all-gather the weights once
  if (call.kind == "generate") {
    const double per_replica = B / dp;
    const double prefill = 2 * N * B * P / (mesh * rate) * bubble;
    const double step = std::max(2 * N / (tp * c.hbm_bw), 2 * N * per_replica / (tp * rate));  // every stage in turn
    k.compute = prefill + G * step + (G + 1) * (L * c.layer_overhead + c.step_overhead);  // every step passes every layer
    k.comm = (G + 1) * L * 2 * (per_replica * h * 2 * allreduce / tp_bw + (tp > 1 ? latency : 0)) +
             (P > 0 ? L * 2 * per_replica * P * h * 2 * allreduce / tp_bw / pp : 0);
    k.memory = shard + 2 * (L / pp) * per_replica * (P + G) * h * 2 / tp;  // weights + KV cache
    k.comm += (G + 1) * gather;  // ZeRO-3 generation regathers every layer at every step
    k.comm += (G + 1) * (pp - 1) * latency;  // every step's activations pass the stages in turn
  } else {
    const double tokens = B * (P + G), passes = call.kind == "train" ? 3 : 1;
    k.compute = 2 * passes * N * tokens / (mesh * rate) * bubble + passes * (L / pp) * (m + pp - 1) * c.layer_overhead;
    k.comm = passes * L * 2 * ((tokens / dp) * h * 2 * allreduce / tp_bw / pp * bubble + (tp > 1 ? m * latency : 0)) +
             (call.kind == "train" ? 2 : 1) * (pp - 1) * m * latency;  // micro-batches between stages (and gradients back)
    const double act = (tokens / dp / m) * h * (L / pp) * 16 / tp;
    if (a.s.zero3) {
      k.comm += (call.kind == "train" ? 3 : 1) * gather;  // forward (and backward) gathers, gradient reduce-scatter
      k.memory = (call.kind == "train" ? 16 * N / mesh : 0) + shard + act;
    } else if (call.kind == "train") {
      k.comm += dp > 1 ? 2 * shard * (dp - 1) / dp / dp_bw : 0;  // gradient all-reduce
      k.memory = shard * 2 + 12 * N / (tp * pp * dp) + act;   // weights, gradients, Adam states sharded over dp
    } else {
      k.memory = shard + act;
    }
  }
  if (prev && (prev->mesh.first != a.mesh.first || prev->mesh.size != a.mesh.size || prev->s.dp != a.s.dp || prev->s.tp != a.s.tp ||
               prev->s.pp != a.s.pp || prev->s.zero3 != a.s.zero3)) {
    const bool cross = (a.mesh.first / c.gpus_per_node != prev->mesh.first / c.gpus_per_node) || a.mesh.size > c.gpus_per_node ||
                       prev->mesh.size > c.gpus_per_node;
    k.realloc = shard / (cross ? c.inter_bw : c.intra_bw);  // each destination GPU receives its shard from one source replica
  }
  return k;
}

Schedule simulate(const Workload& w, const Cluster& c, const Plan& p) {
  const size_t n = w.calls.size();
  Schedule s;
  s.start.assign(n, 0);
  s.end.assign(n, 0);
  s.cost.resize(n);
  std::vector<double> free_at(static_cast<size_t>(c.world()), 0.0);
  double excess = 0;
  for (size_t i = 0; i < n; ++i) {
    // The layout this call's model had last: an earlier call of the same model, else its last call (the
    // previous iteration's).
    const Assignment* prev = nullptr;
    for (size_t k = i; k-- > 0;)
      if (w.calls[k].model == w.calls[i].model) {
        prev = &p[k];
        break;
      }
    if (!prev)
      for (size_t k = n; k-- > i + 1;)
        if (w.calls[k].model == w.calls[i].model) {
          prev = &p[k];
          break;
        }
    s.cost[i] = call_cost(w, c, static_cast<int>(i), p[i], prev);
    double t = 0;
    for (int d : w.calls[i].deps) t = std::max(t, s.end[static_cast<size_t>(d)]);
    for (int64_t g = p[i].mesh.first; g < p[i].mesh.first + p[i].mesh.size; ++g) t = std::max(t, free_at[static_cast<size_t>(g)]);
    s.start[i] = t;
    s.end[i] = t + s.cost[i].total();
    for (int64_t g = p[i].mesh.first; g < p[i].mesh.first + p[i].mesh.size; ++g) free_at[static_cast<size_t>(g)] = s.end[i];
    s.makespan = std::max(s.makespan, s.end[i]);
    if (s.cost[i].memory > c.memory) {
      s.oom = true;
      excess += s.cost[i].memory / c.memory - 1;
    }
  }
  s.score = s.oom ? s.makespan * (10 + excess) : s.makespan;
  return s;
}

std::vector<Assignment> candidates(const Workload& w, const Cluster& c, int call) {
  const Call& k = w.calls[static_cast<size_t>(call)];
  std::vector<Assignment> out;
  for (int64_t size = 1; size <= c.world(); size *= 2) {
    if (size > c.gpus_per_node && size % c.gpus_per_node) continue;
    for (int64_t first = 0; first + size <= c.world(); first += size)
      for (int64_t tp = 1; tp <= std::min(size, c.gpus_per_node); tp *= 2) {
        if (size % tp || !divides(tp, heads(k.size))) continue;
        for (int64_t pp = 1; pp <= size / tp; pp *= 2) {
          if ((size / tp) % pp || pp > k.size.layers) continue;
          const int64_t dp = size / (tp * pp);
          if (dp > w.batch) continue;
          out.push_back({{first, size}, {dp, tp, pp}});
        }
      }
    if (size == c.world()) break;
  }
  return out;
}

void SearchOptions::validate() const {
  if (iterations < 0 || iterations > 100000000) throw UsageError("--iterations is outside [0, 1e8]");
  if (!(temperature > 0) || !std::isfinite(temperature)) throw UsageError("--temperature must be positive");
}

Plan fixed_layout(const Workload& w, const Cluster& c) {
  Plan best;
  double best_score = std::numeric_limits<double>::infinity();
  for (const auto& a : candidates(w, c, 0)) {
    if (a.mesh.size != c.world()) continue;
    Plan p(w.calls.size(), a);
    try {
      validate_plan(p, w, c);
    } catch (const UsageError&) {
      continue;
    }
    const double sc = simulate(w, c, p).score;
    if (sc < best_score) best_score = sc, best = p;
  }
  if (best.empty()) throw UsageError("no strategy of the whole cluster fits every call");
  return best;
}

Plan deepspeed_chat_layout(const Workload& w, const Cluster& c) {
  Plan p(w.calls.size());
  for (size_t i = 0; i < w.calls.size(); ++i) {
    const Call& k = w.calls[i];
    if (k.kind == "generate") {
      int64_t tp = 1;
      while (tp * 2 <= c.gpus_per_node && c.world() % (tp * 2) == 0 && divides(tp * 2, heads(k.size))) tp *= 2;
      p[i] = {{0, c.world()}, {c.world() / tp, tp, 1, false}};
    } else {
      p[i] = {{0, c.world()}, {c.world(), 1, 1, true}};
    }
  }
  validate_plan(p, w, c);
  return p;
}

Plan heuristic_plan(const Workload& w, const Cluster& c) {
  Plan p = fixed_layout(w, c);
  const int64_t half = c.world() >= 2 ? c.world() / 2 : c.world();
  for (size_t i = 0; i < w.calls.size(); ++i) {
    const Call& k = w.calls[i];
    Mesh want{0, c.world()};
    if (k.kind == "inference") want = {(k.model == "critic" || k.model == "reward") && half < c.world() ? half : 0, half};
    double best = std::numeric_limits<double>::infinity();
    Assignment choice = p[i];
    for (const auto& a : candidates(w, c, static_cast<int>(i))) {
      if (a.mesh.first != want.first || a.mesh.size != want.size) continue;
      if (k.kind == "generate" && a.s.pp != 1) continue;  // generation: tp within a node, dp across
      Plan q = p;
      q[i] = a;
      const double sc = simulate(w, c, q).score;
      if (sc < best) best = sc, choice = a;
    }
    p[i] = choice;
  }
  return p;
}

SearchResult search(const Workload& w, const Cluster& c, const SearchOptions& o, uint64_t seed, Plan start) {
  o.validate();
  c.validate();
  std::vector<std::vector<Assignment>> cand;
  for (size_t i = 0; i < w.calls.size(); ++i) {
    cand.push_back(candidates(w, c, static_cast<int>(i)));
    if (cand.back().empty()) throw UsageError(fmt::format("call {}: no layout fits the cluster", w.calls[i].name));
  }
  Plan cur = start;
  if (cur.empty()) {  // the better of the two baselines
    const Plan f = fixed_layout(w, c), h = heuristic_plan(w, c);
    cur = simulate(w, c, h).score < simulate(w, c, f).score ? h : f;
  }
  validate_plan(cur, w, c);
  double cur_score = simulate(w, c, cur).score;
  SearchResult r;
  r.best = cur;
  double best_score = cur_score;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> U(0, 1);
  for (int64_t it = 0; it < o.iterations; ++it) {
    if ((it & 1023) == 0) check_stop();
    const size_t i = static_cast<size_t>(rng() % cur.size());
    Plan next = cur;
    next[i] = cand[i][static_cast<size_t>(rng() % cand[i].size())];
    const double sc = simulate(w, c, next).score;
    ++r.evaluated;
    if (sc <= cur_score || U(rng) < std::exp(-(sc - cur_score) / (o.temperature * cur_score))) {
      cur = std::move(next);
      cur_score = sc;
      ++r.accepted;
      if (sc < best_score) best_score = sc, r.best = cur;
    }
  }
  r.schedule = simulate(w, c, r.best);
  return r;
}

double iteration_flops(const Workload& w) {
  double f = 0;
  for (const auto& k : w.calls) {
    const double B = static_cast<double>(w.batch) * (k.name == "reward_inf" && w.algo == "remax" ? 2 : 1);
    const double tokens = k.kind == "generate" ? B * static_cast<double>(w.prompt_len + w.gen_len) : B * static_cast<double>(w.prompt_len + w.gen_len);
    f += (k.kind == "train" ? 6 : 2) * k.size.params() * tokens;
  }
  return f;
}

}  // namespace paramkit::rlhf::plan
