// A causal LM across processes: tensor-parallel shards, pipeline stages with GPipe micro-batches, data-
// parallel replicas; reallocation between placements.
#include "paramkit/rlhf/parallel.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"

namespace paramkit::rlhf::parallel {

namespace {
using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

dist::Group* group_of(AutogradContext* ctx) { return reinterpret_cast<dist::Group*>(ctx->saved_data["group"].toInt()); }

// Megatron's f: identity forward, gradient summed over the tensor-parallel group.
struct CopyToTp : torch::autograd::Function<CopyToTp> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor x, int64_t group) {
    ctx->saved_data["group"] = group;
    return x.clone();
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list g) {
    torch::Tensor s = g[0].contiguous().clone();
    group_of(ctx)->all_reduce(s);
    return {s, torch::Tensor()};
  }
};
// Megatron's g: sum over the group forward, gradient passed through.
struct ReduceFromTp : torch::autograd::Function<ReduceFromTp> {
  static torch::Tensor forward(AutogradContext*, torch::Tensor x, int64_t group) {
    torch::Tensor s = x.contiguous().clone();
    reinterpret_cast<dist::Group*>(group)->all_reduce(s);
    return s;
  }
  static tensor_list backward(AutogradContext*, tensor_list g) { return {g[0], torch::Tensor()}; }
};

// Sums the tensors over g in one all-reduce of their concatenation.
void all_reduce_many(dist::Group& g, const std::vector<torch::Tensor>& ts) {
  if (ts.empty()) return;
  std::vector<torch::Tensor> flat;
  for (const auto& t : ts) flat.push_back(t.reshape(-1));
  torch::Tensor buf = torch::cat(flat);
  g.all_reduce(buf);
  int64_t off = 0;
  for (const auto& t : ts) {
    t.copy_(buf.narrow(0, off, t.numel()).view_as(t));
    off += t.numel();
  }
}

constexpr int kForwardTag = 11, kBackwardTag = 12, kDecodeTag = 13;
}  // namespace

torch::Tensor broadcast_any(dist::Group& g, torch::Tensor t, int64_t root) {
  torch::Tensor header = torch::zeros({10}, torch::kLong);
  if (g.rank() == root) {
    TORCH_CHECK(t.dim() <= 8, "broadcast_any: at most 8 dimensions");
    header[0] = t.dim();
    header[1] = static_cast<int64_t>(t.scalar_type());
    for (int64_t k = 0; k < t.dim(); ++k) header[2 + k] = t.size(k);
  }
  g.broadcast(header, root);
  if (g.rank() == root) {
    t = t.contiguous();
  } else {
    std::vector<int64_t> shape;
    for (int64_t k = 0; k < header[0].item<int64_t>(); ++k) shape.push_back(header[2 + k].item<int64_t>());
    t = torch::empty(shape, torch::dtype(static_cast<c10::ScalarType>(header[1].item<int64_t>())));
  }
  g.broadcast(t, root);
  return t;
}

std::vector<int64_t> mesh(int64_t first, int64_t size) {
  std::vector<int64_t> r(static_cast<size_t>(std::max<int64_t>(size, 0)));
  for (int64_t i = 0; i < size; ++i) r[static_cast<size_t>(i)] = first + i;
  return r;
}

void Placement::validate(const lm::LmConfig& c, int64_t world, const std::string& what) const {
  auto bad = [&](const std::string& why) { throw UsageError(fmt::format("{}: {}", what, why)); };
  if (layout.pp < 1 || layout.tp < 1 || layout.dp < 1) bad("dp, tp and pp must be positive");
  if (static_cast<int64_t>(ranks.size()) != layout.ranks())
    bad(fmt::format("dp {} x tp {} x pp {} is not the mesh size {}", layout.dp, layout.tp, layout.pp, ranks.size()));
  for (size_t i = 0; i < ranks.size(); ++i)
    if (ranks[i] < 0 || ranks[i] >= world || (i && ranks[i] <= ranks[i - 1]))
      bad(fmt::format("the mesh must be ascending process ranks below the world size {}", world));
  if (c.num_heads % layout.tp || c.num_kv_heads % layout.tp || c.intermediate_size % layout.tp)
    bad(fmt::format("tp {} does not divide the {} heads, {} key/value heads and MLP width {}", layout.tp, c.num_heads, c.num_kv_heads,
                    c.intermediate_size));
  if (layout.pp > c.num_layers) bad(fmt::format("pp {} exceeds the {} layers", layout.pp, c.num_layers));
  if (micro_batches < 1) bad("micro-batches must be positive");
}

ParallelLM::ParallelLM(dist::Group& world, const lm::LmConfig& c, lm::Head head, const Placement& p, c10::ScalarType dtype)
    : world_(world), config_(c), head_(head), place_(p), mlayout_(realloc::lm_layout(c, head, dtype)) {
  p.validate(c, world.world(), "placement");
  const realloc::Layout& l = p.layout;
  const auto it = std::find(p.ranks.begin(), p.ranks.end(), world.rank());
  lrank_ = it == p.ranks.end() ? -1 : static_cast<int64_t>(it - p.ranks.begin());
  // The groups, every process visiting the lists in the same order (a member joins its own).
  mesh_ = world.subgroup(p.ranks);
  auto join = [&](const std::vector<int64_t>& ranks) { return ranks.size() > 1 ? world.subgroup(ranks) : nullptr; };
  for (int64_t d = 0; d < l.dp; ++d)
    for (int64_t s = 0; s < l.pp; ++s) {
      std::vector<int64_t> g;
      for (int64_t t = 0; t < l.tp; ++t) g.push_back(process_of(d, s, t));
      if (auto x = join(g)) tp_ = x;
    }
  for (int64_t d = 0; d < l.dp; ++d) {
    std::vector<int64_t> g;
    for (int64_t s = 0; s < l.pp; ++s)
      for (int64_t t = 0; t < l.tp; ++t) g.push_back(process_of(d, s, t));
    if (auto x = join(g)) replica_group_ = x;
  }
  for (int64_t s = 0; s < l.pp; ++s)
    for (int64_t t = 0; t < l.tp; ++t) {
      std::vector<int64_t> g;
      for (int64_t d = 0; d < l.dp; ++d) g.push_back(process_of(d, s, t));
      if (auto x = join(g)) dp_ = x;
    }
  if (l.pp > 1 && head == lm::Head::lm && c.tie_word_embeddings)
    for (int64_t d = 0; d < l.dp; ++d)
      for (int64_t t = 0; t < l.tp; ++t)
        if (auto x = join({process_of(d, 0, t), process_of(d, l.pp - 1, t)})) tied_ = x;
  if (lrank_ < 0) return;
  stage_ = l.stage(lrank_);
  tp_rank_ = l.tp_rank(lrank_);
  replica_ = l.replica(lrank_);
  const auto [b, e] = realloc::stage_layers(c.num_layers, l.pp, stage_);
  shard = lm::CausalLM(c, head, 0, false, lm::Shard{l.tp, tp_rank_, b, e});
  shard->to(dtype);
  if (tp_) {
    const int64_t g = reinterpret_cast<int64_t>(tp_.get());
    ops_.copy_input = [g](const torch::Tensor& x) { return CopyToTp::apply(x, g); };
    ops_.reduce_output = [g](const torch::Tensor& x) { return ReduceFromTp::apply(x, g); };
  }
}

int64_t ParallelLM::process_of(int64_t replica, int64_t stage, int64_t tp_rank) const {
  return place_.ranks[static_cast<size_t>(place_.layout.rank(replica, stage, tp_rank))];
}

std::pair<int64_t, int64_t> ParallelLM::replica_rows(int64_t batch, int64_t replica) const {
  if (batch < place_.layout.dp)
    throw UsageError(fmt::format("a batch of {} rows cannot be split over {} data-parallel replicas", batch, place_.layout.dp));
  return realloc::stage_layers(batch, place_.layout.dp, replica);
}

realloc::Shards::value_type ParallelLM::state() const {
  realloc::Shards::value_type s;
  if (!shard) return s;
  for (const auto& kv : shard->named_parameters()) s[kv.key()] = kv.value();
  return s;
}

void ParallelLM::load(const realloc::Shards::value_type& values) {
  torch::NoGradGuard ng;
  for (auto& [name, p] : state()) {
    const auto it = values.find(name);
    if (it == values.end()) throw Error(fmt::format("parallel load: no values for {}", name));
    p.copy_(it->second);
  }
}

torch::Tensor ParallelLM::stage_input(const torch::Tensor& ids, int64_t row0, int64_t rows, int tag) {
  if (stage_ == 0) return ids.narrow(0, row0, rows);
  torch::Tensor in = torch::empty({rows, ids.size(1), config_.hidden_size}, torch::dtype(shard->dtype()));
  world_.recv(in, process_of(replica_, stage_ - 1, tp_rank_), tag);
  return in;
}

torch::Tensor ParallelLM::stage(const torch::Tensor& in, const torch::Tensor& mask, lm::KvCache* cache) {
  return shard->stage_forward(in, mask, cache, tp_ ? &ops_ : nullptr);
}

torch::Tensor ParallelLM::gather_replicas(const torch::Tensor& mine, int64_t batch) {
  const realloc::Layout& l = place_.layout;
  std::vector<torch::Tensor> parts;
  for (int64_t d = 0; d < l.dp; ++d) {
    const int64_t root = l.rank(d, l.pp - 1, 0);  // the mesh group's ranks are the layout's (ascending mesh)
    parts.push_back(broadcast_any(*mesh_, lrank_ == root ? mine : torch::Tensor(), root));
  }
  torch::Tensor all = torch::cat(parts, 0);
  TORCH_CHECK(all.size(0) == batch, "parallel: gathered ", all.size(0), " rows of ", batch);
  return all;
}

torch::Tensor ParallelLM::map_rows(const torch::Tensor& ids, const torch::Tensor& mask, const RowFn& f) {
  if (!shard) return {};
  torch::NoGradGuard ng;
  const realloc::Layout& l = place_.layout;
  const int64_t B = ids.size(0);
  const auto [r0, r1] = replica_rows(B, replica_);
  const int64_t M = std::min(place_.micro_batches, r1 - r0);
  const bool last = stage_ == l.pp - 1;
  std::vector<torch::Tensor> outs;
  for (int64_t m = 0; m < M; ++m) {
    check_stop();
    const auto [a, b] = realloc::stage_layers(r1 - r0, M, m);
    const torch::Tensor mk = mask.narrow(0, r0 + a, b - a);
    torch::Tensor out = stage(stage_input(ids, r0 + a, b - a, kForwardTag), mk, nullptr);
    if (!last) world_.send(out, process_of(replica_, stage_ + 1, tp_rank_), kForwardTag);
    else outs.push_back(f(shard->head_output(out), r0 + a).to(torch::kCPU));
  }
  return gather_replicas(last && tp_rank_ == 0 ? torch::cat(outs, 0) : torch::Tensor(), B);
}

namespace {
// Generation's view of a replica: its pipeline with a KV cache per stage; the last stage's logits go to
// every process of the replica so that all draw the same tokens.
struct PipelineDecoder : lm::Decoder {
  std::function<torch::Tensor(const torch::Tensor&, int64_t, const torch::Tensor&)> step;
  std::function<void(int64_t, int64_t)> on_start;
  void start(int64_t batch, int64_t capacity) override { on_start(batch, capacity); }
  torch::Tensor next_logits(const torch::Tensor& seq, int64_t fresh, const torch::Tensor& mask) override { return step(seq, fresh, mask); }
};
}  // namespace

lm::GenerateResult ParallelLM::generate(const torch::Tensor& ids, const torch::Tensor& mask, const lm::GenerateOptions& o) {
  if (!shard) return {};
  const realloc::Layout& l = place_.layout;
  const int64_t B = ids.size(0);
  const auto [r0, r1] = replica_rows(B, replica_);
  const bool last = stage_ == l.pp - 1;
  lm::KvCache cache;
  PipelineDecoder dec;
  dec.on_start = [&](int64_t batch, int64_t capacity) { cache = shard->make_cache(batch, capacity); };
  dec.step = [&](const torch::Tensor& seq, int64_t fresh, const torch::Tensor& mk) {
    const int64_t b = seq.size(0);
    torch::Tensor h = stage(stage_input(seq.narrow(1, seq.size(1) - fresh, fresh), 0, b, kDecodeTag), mk, &cache);
    if (!last) world_.send(h, process_of(replica_, stage_ + 1, tp_rank_), kDecodeTag);
    torch::Tensor logits = last ? shard->head_output(h.select(1, h.size(1) - 1)).contiguous()
                                : torch::empty({b, config_.vocab_size}, torch::kFloat);
    if (l.pp > 1) replica_group_->broadcast(logits, (l.pp - 1) * l.tp);
    return logits;
  };
  // Each replica its own sampling stream (one replica: the single-process one), so that rows of the same
  // prompt on different replicas (GRPO's groups) are not drawn with the same numbers.
  lm::GenerateOptions ro = o;
  if (l.dp > 1) ro.seed = o.seed ^ (0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(replica_ + 1));
  const lm::GenerateResult g = lm::generate(dec, config_, shard->device(), ids.narrow(0, r0, r1 - r0), mask.narrow(0, r0, r1 - r0), ro);
  if (l.dp == 1) return g;
  // Replicas may stop at different lengths: pad each to max_new_tokens, gather, cut to the longest.
  const int64_t P = g.prompt_length, N = o.max_new_tokens, n = g.new_tokens();
  const int64_t pad = lm::pad_id(config_, o);
  auto widen = [&](const torch::Tensor& t, int64_t width, double fill) {
    torch::Tensor w = torch::full({t.size(0), width}, fill, t.options());
    w.narrow(1, 0, t.size(1)).copy_(t);
    return w;
  };
  lm::GenerateResult r;
  r.prompt_length = P;
  r.sequences = gather_replicas(widen(g.sequences, P + N, static_cast<double>(pad)), B);
  r.attention_mask = gather_replicas(widen(g.attention_mask, P + N, 0), B);
  r.response_mask = gather_replicas(widen(g.response_mask, N, 0), B);
  if (g.logprobs.defined()) r.logprobs = gather_replicas(widen(g.logprobs, N, 0), B);
  torch::Tensor longest = torch::tensor({n}, torch::kLong);
  // every member of the mesh knows its replica's n; the longest over replicas
  std::vector<torch::Tensor> all;
  mesh_->all_gather(longest, all);
  int64_t nmax = 0;
  for (const auto& x : all) nmax = std::max(nmax, x.item<int64_t>());
  r.sequences = r.sequences.narrow(1, 0, P + nmax).contiguous();
  r.attention_mask = r.attention_mask.narrow(1, 0, P + nmax).contiguous();
  r.response_mask = r.response_mask.narrow(1, 0, nmax).contiguous();
  if (r.logprobs.defined()) r.logprobs = r.logprobs.narrow(1, 0, nmax).contiguous();
  return r;
}

double ParallelLM::backward(const torch::Tensor& ids, const torch::Tensor& mask, const RowFn& share) {
  if (!shard) return 0;
  const realloc::Layout& l = place_.layout;
  const int64_t B = ids.size(0);
  const auto [r0, r1] = replica_rows(B, replica_);
  const int64_t M = std::min(place_.micro_batches, r1 - r0);
  const bool first = stage_ == 0, last = stage_ == l.pp - 1;
  struct Saved {
    torch::Tensor in, out;
  };
  std::vector<Saved> saved;
  double loss = 0;
  // GPipe: every micro-batch forward, then every one backward in reverse.
  for (int64_t m = 0; m < M; ++m) {
    check_stop();
    const auto [a, b] = realloc::stage_layers(r1 - r0, M, m);
    const torch::Tensor mk = mask.narrow(0, r0 + a, b - a);
    torch::Tensor in = stage_input(ids, r0 + a, b - a, kForwardTag);
    if (!first) in.requires_grad_(true);
    torch::Tensor out = stage(in, mk, nullptr);
    if (!last) {
      world_.send(out.detach(), process_of(replica_, stage_ + 1, tp_rank_), kForwardTag);
    } else {
      out = share(shard->head_output(out), r0 + a);
      loss += out.item<double>();
    }
    saved.push_back({in, out});
  }
  for (int64_t m = M - 1; m >= 0; --m) {
    check_stop();
    Saved& s = saved[static_cast<size_t>(m)];
    if (last) {
      s.out.backward();
    } else {
      torch::Tensor g = torch::empty_like(s.out);
      world_.recv(g, process_of(replica_, stage_ + 1, tp_rank_), kBackwardTag);
      s.out.backward(g);
    }
    if (!first) world_.send(s.in.grad(), process_of(replica_, stage_ - 1, tp_rank_), kBackwardTag);
    s = {};
  }
  std::vector<torch::Tensor> grads;
  for (auto& [name, p] : state()) {
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    grads.push_back(p.grad());
  }
  if (dp_) all_reduce_many(*dp_, grads);
  if (tied_) {
    auto st = state();
    const std::string wte = config_.arch == lm::Arch::gpt2 ? "transformer.wte.weight" : "model.embed_tokens.weight";
    tied_->all_reduce(st.at(wte).mutable_grad());
  }
  torch::Tensor total = torch::tensor({last && tp_rank_ == 0 ? loss : 0.0}, torch::kFloat64);
  mesh_->all_reduce(total);
  return total.item<double>();
}

double ParallelLM::clip_grad_norm(double max_norm) {
  if (!shard) return 0;
  std::map<std::string, const realloc::TensorSpec*> spec;
  for (const auto& t : mlayout_.tensors) spec[t.name] = &t;
  torch::Tensor sq = torch::zeros({1}, torch::kFloat64);
  const auto st = state();
  for (const auto& [name, p] : st) {
    if (!p.grad().defined()) continue;
    const realloc::TensorSpec& t = *spec.at(name);
    // each tensor once: replica 0, tp rank 0 for whole tensors, the first stage's copy of a tied embedding
    const bool counted = replica_ == 0 && (t.split_axis >= 0 || tp_rank_ == 0) && !(t.layer < 0 && stage_ != 0);
    if (counted) sq += p.grad().to(torch::kFloat64).pow(2).sum();
  }
  mesh_->all_reduce(sq);
  const double norm = std::sqrt(sq.item<double>());
  if (max_norm > 0) {
    const double coef = max_norm / (norm + 1e-6);
    if (coef < 1) {
      torch::NoGradGuard ng;
      for (const auto& [name, p] : st)
        if (p.grad().defined()) p.mutable_grad().mul_(coef);
    }
  }
  return norm;
}

namespace {
realloc::Shards::value_type detached(const realloc::Shards::value_type& s) {
  realloc::Shards::value_type out;
  for (const auto& [k, v] : s) out[k] = v.detach();
  return out;
}
}  // namespace

int64_t reallocate(dist::Group& world, const ParallelLM& from, ParallelLM& to) {
  const realloc::ModelLayout& m = from.model_layout();
  const Placement &a = from.placement(), &b = to.placement();
  const realloc::TransferPlan plan = realloc::plan_transfer(m, a.layout, b.layout, a.ranks, b.ranks);
  const auto got = dist::execute(world, m, a.layout, b.layout, plan, a.ranks, b.ranks, detached(from.state()));
  if (to.member()) to.load(got);
  return plan.bytes - plan.local_bytes;
}

std::map<std::string, torch::Tensor> gather_full(dist::Group& world, const ParallelLM& from, int64_t root,
                                                 const realloc::Shards::value_type* values) {
  const realloc::ModelLayout& m = from.model_layout();
  const Placement& a = from.placement();
  const realloc::Layout one{1, 1, 1};
  const realloc::TransferPlan plan = realloc::plan_transfer(m, a.layout, one, a.ranks, {root});
  return dist::execute(world, m, a.layout, one, plan, a.ranks, {root}, detached(values ? *values : from.state()));
}

void scatter_full(dist::Group& world, const std::map<std::string, torch::Tensor>& full, int64_t root, ParallelLM& to) {
  const auto got = scatter_values(world, full, root, to);
  if (to.member()) to.load(got);
}

realloc::Shards::value_type scatter_values(dist::Group& world, const std::map<std::string, torch::Tensor>& full, int64_t root,
                                           const ParallelLM& to) {
  const realloc::ModelLayout& m = to.model_layout();
  const Placement& b = to.placement();
  const realloc::Layout one{1, 1, 1};
  const realloc::TransferPlan plan = realloc::plan_transfer(m, one, b.layout, {root}, b.ranks);
  realloc::Shards::value_type mine;
  if (world.rank() == root) mine = detached(full);
  return dist::execute(world, m, one, b.layout, plan, {root}, b.ranks, mine);
}

}  // namespace paramkit::rlhf::parallel
