// Reallocation plans between (pp, tp, dp) layouts, and their in-process execution.
#include "paramkit/rlhf/realloc.h"

#include <fmt/format.h>

#include "paramkit/core/error.h"

namespace paramkit::rlhf::realloc {

ModelLayout transformer_layout(int64_t layers, int64_t hidden, int64_t mlp, int64_t vocab) {
  ModelLayout m;
  m.layers = layers;
  m.tensors.push_back({"embed", -1, {vocab, hidden}, 0});
  for (int64_t l = 0; l < layers; ++l) {
    const std::string p = fmt::format("layers.{}.", l);
    m.tensors.push_back({p + "norm1", l, {hidden}, -1});
    m.tensors.push_back({p + "qkv", l, {3 * hidden, hidden}, 0});
    m.tensors.push_back({p + "attn_out", l, {hidden, hidden}, 1});
    m.tensors.push_back({p + "norm2", l, {hidden}, -1});
    m.tensors.push_back({p + "mlp_in", l, {mlp, hidden}, 0});
    m.tensors.push_back({p + "mlp_out", l, {hidden, mlp}, 1});
  }
  m.tensors.push_back({"norm_f", layers, {hidden}, -1});
  m.tensors.push_back({"head", layers, {vocab, hidden}, 0});
  return m;
}

std::pair<int64_t, int64_t> stage_layers(int64_t layers, int64_t pp, int64_t s) {
  const int64_t base = layers / pp, extra = layers % pp;
  const int64_t begin = s * base + std::min(s, extra);
  return {begin, begin + base + (s < extra ? 1 : 0)};
}

void validate(const ModelLayout& m, const Layout& l) {
  if (l.pp < 1 || l.tp < 1 || l.dp < 1) throw UsageError("layout: degrees must be positive");
  if (l.pp > m.layers) throw UsageError(fmt::format("layout: pp {} exceeds the {} layers", l.pp, m.layers));
  for (const auto& t : m.tensors)
    if (t.split_axis >= 0 && t.shape[static_cast<size_t>(t.split_axis)] % l.tp)
      throw UsageError(fmt::format("layout: tp {} does not divide {} of {}", l.tp, t.shape[static_cast<size_t>(t.split_axis)], t.name));
}

bool holds(const ModelLayout& m, const Layout& l, int64_t r, const TensorSpec& t, int64_t& begin, int64_t& end) {
  const int64_t s = l.stage(r);
  const auto [a, b] = stage_layers(m.layers, l.pp, s);
  const bool owns = t.layer < 0 ? s == 0 : (t.layer >= m.layers ? s == l.pp - 1 : (t.layer >= a && t.layer < b));
  if (!owns) return false;
  if (t.split_axis < 0) {
    begin = 0;
    end = 1;  // replicated: one whole piece
    return true;
  }
  const int64_t n = t.shape[static_cast<size_t>(t.split_axis)] / l.tp;
  begin = l.tp_rank(r) * n;
  end = begin + n;
  return true;
}

TransferPlan plan_transfer(const ModelLayout& m, const Layout& from, const Layout& to, const std::vector<int64_t>& src_devices,
                           const std::vector<int64_t>& dst_devices) {
  validate(m, from);
  validate(m, to);
  if (static_cast<int64_t>(src_devices.size()) != from.ranks() || static_cast<int64_t>(dst_devices.size()) != to.ranks())
    throw UsageError("reallocation: one device per rank of each layout");
  TransferPlan plan;
  for (int64_t r2 = 0; r2 < to.ranks(); ++r2) {
    const int64_t d_src = to.replica(r2) % from.dp;  // each destination replica is fed by one source replica
    for (const auto& t : m.tensors) {
      int64_t b2 = 0, e2 = 0;
      if (!holds(m, to, r2, t, b2, e2)) continue;
      const int64_t per_row = [&] {
        int64_t n = 1;
        for (size_t k = 0; k < t.shape.size(); ++k)
          if (static_cast<int64_t>(k) != t.split_axis) n *= t.shape[k];
        return n;
      }();
      for (int64_t s = 0; s < from.pp; ++s)
        for (int64_t tr = 0; tr < from.tp; ++tr) {
          const int64_t r1 = from.rank(d_src, s, tr);
          int64_t b1 = 0, e1 = 0;
          if (!holds(m, from, r1, t, b1, e1)) continue;
          Piece p;
          p.src = r1;
          p.dst = r2;
          p.tensor = t.name;
          if (t.split_axis < 0) {
            if (tr != to.tp_rank(r2) % from.tp) continue;  // replicated: from one tensor-parallel rank (the same one when it can)
            int64_t n = 1;
            for (int64_t x : t.shape) n *= x;
            p.length = 1;
            p.bytes = 4 * n;
          } else {
            const int64_t lo = std::max(b1, b2), hi = std::min(e1, e2);
            if (lo >= hi) continue;
            p.src_begin = lo - b1;
            p.dst_begin = lo - b2;
            p.length = hi - lo;
            p.bytes = 4 * p.length * per_row;
          }
          plan.bytes += p.bytes;
          if (src_devices[static_cast<size_t>(r1)] == dst_devices[static_cast<size_t>(r2)]) plan.local_bytes += p.bytes;
          plan.pieces.push_back(p);
        }
    }
  }
  return plan;
}

Shards shard(const ModelLayout& m, const Layout& l, const std::map<std::string, torch::Tensor>& full) {
  validate(m, l);
  Shards out(static_cast<size_t>(l.ranks()));
  for (int64_t r = 0; r < l.ranks(); ++r)
    for (const auto& t : m.tensors) {
      int64_t b = 0, e = 0;
      if (!holds(m, l, r, t, b, e)) continue;
      const auto it = full.find(t.name);
      if (it == full.end()) throw UsageError(fmt::format("shard: no tensor {}", t.name));
      out[static_cast<size_t>(r)][t.name] = t.split_axis < 0 ? it->second.clone() : it->second.narrow(t.split_axis, b, e - b).clone();
    }
  return out;
}

Shards execute_in_process(const ModelLayout& m, const Layout& from, const Layout& to, const TransferPlan& plan, const Shards& src) {
  Shards out(static_cast<size_t>(to.ranks()));
  std::map<std::string, const TensorSpec*> spec;
  for (const auto& t : m.tensors) spec[t.name] = &t;
  for (int64_t r = 0; r < to.ranks(); ++r)
    for (const auto& t : m.tensors) {
      int64_t b = 0, e = 0;
      if (!holds(m, to, r, t, b, e)) continue;
      std::vector<int64_t> shape = t.shape;
      if (t.split_axis >= 0) shape[static_cast<size_t>(t.split_axis)] = e - b;
      out[static_cast<size_t>(r)][t.name] = torch::full(shape, std::numeric_limits<float>::quiet_NaN());
    }
  for (const auto& p : plan.pieces) {
    const TensorSpec& t = *spec.at(p.tensor);
    const torch::Tensor& from_shard = src[static_cast<size_t>(p.src)].at(p.tensor);
    torch::Tensor& to_shard = out[static_cast<size_t>(p.dst)].at(p.tensor);
    if (t.split_axis < 0)
      to_shard.copy_(from_shard);
    else
      to_shard.narrow(t.split_axis, p.dst_begin, p.length).copy_(from_shard.narrow(t.split_axis, p.src_begin, p.length));
  }
  return out;
}

}  // namespace paramkit::rlhf::realloc
