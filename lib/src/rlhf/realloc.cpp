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

ModelLayout lm_layout(const lm::LmConfig& c, lm::Head head, c10::ScalarType dtype) {
  ModelLayout m;
  m.layers = c.num_layers;
  m.dtype = dtype;
  const int64_t H = c.hidden_size, V = c.vocab_size, I = c.intermediate_size, L = c.num_layers;
  const bool tied = head == lm::Head::lm && c.tie_word_embeddings;
  // attention projections split by whole heads (unit: the head width)
  auto add = [&](const std::string& name, int64_t layer, std::vector<int64_t> shape, int64_t axis = -1, int64_t groups = 1, int64_t unit = 1) {
    m.tensors.push_back({name, layer, std::move(shape), axis, groups, false, unit});
  };
  const int64_t hd = c.head_dim;
  if (c.arch == lm::Arch::gpt2) {
    add("transformer.wte.weight", -1, {V, H});
    m.tensors.back().also_last = tied;
    add("transformer.wpe.weight", -1, {c.max_positions, H});
    for (int64_t l = 0; l < L; ++l) {
      const std::string p = fmt::format("transformer.h.{}.", l);
      add(p + "ln_1.weight", l, {H});
      add(p + "ln_1.bias", l, {H});
      add(p + "attn.c_attn.weight", l, {H, 3 * H}, 1, 3, hd);
      add(p + "attn.c_attn.bias", l, {3 * H}, 0, 3, hd);
      add(p + "attn.c_proj.weight", l, {H, H}, 0, 1, hd);
      add(p + "attn.c_proj.bias", l, {H});
      add(p + "ln_2.weight", l, {H});
      add(p + "ln_2.bias", l, {H});
      add(p + "mlp.c_fc.weight", l, {H, I}, 1);
      add(p + "mlp.c_fc.bias", l, {I}, 0);
      add(p + "mlp.c_proj.weight", l, {I, H}, 0);
      add(p + "mlp.c_proj.bias", l, {H});
    }
    add("transformer.ln_f.weight", L, {H});
    add("transformer.ln_f.bias", L, {H});
  } else {
    const int64_t nh = c.num_heads, nkv = c.num_kv_heads;
    add("model.embed_tokens.weight", -1, {V, H});
    m.tensors.back().also_last = tied;
    for (int64_t l = 0; l < L; ++l) {
      const std::string p = fmt::format("model.layers.{}.", l);
      add(p + "self_attn.q_proj.weight", l, {nh * hd, H}, 0, 1, hd);
      add(p + "self_attn.k_proj.weight", l, {nkv * hd, H}, 0, 1, hd);
      add(p + "self_attn.v_proj.weight", l, {nkv * hd, H}, 0, 1, hd);
      add(p + "self_attn.o_proj.weight", l, {H, nh * hd}, 1, 1, hd);
      add(p + "mlp.gate_proj.weight", l, {I, H}, 0);
      add(p + "mlp.up_proj.weight", l, {I, H}, 0);
      add(p + "mlp.down_proj.weight", l, {H, I}, 1);
      add(p + "input_layernorm.weight", l, {H});
      add(p + "post_attention_layernorm.weight", l, {H});
    }
    add("model.norm.weight", L, {H});
  }
  if (head == lm::Head::score) add("score.weight", L, {1, H});
  else if (!tied) add("lm_head.weight", L, {V, H});
  return m;
}

torch::Tensor slice_of(const TensorSpec& t, const torch::Tensor& x, int64_t begin, int64_t length) {
  if (t.split_axis < 0) return x;
  if (t.groups == 1) return x.narrow(t.split_axis, begin, length);
  const int64_t n = x.size(t.split_axis);
  return x.unflatten(t.split_axis, {t.groups, n / t.groups}).narrow(t.split_axis + 1, begin, length);
}

namespace {
int64_t element_size(const ModelLayout& m) { return static_cast<int64_t>(c10::elementSize(m.dtype)); }
}  // namespace

std::pair<int64_t, int64_t> stage_layers(int64_t layers, int64_t pp, int64_t s) {
  const int64_t base = layers / pp, extra = layers % pp;
  const int64_t begin = s * base + std::min(s, extra);
  return {begin, begin + base + (s < extra ? 1 : 0)};
}

void validate(const ModelLayout& m, const Layout& l) {
  if (l.pp < 1 || l.tp < 1 || l.dp < 1) throw UsageError("layout: degrees must be positive");
  if (l.pp > m.layers) throw UsageError(fmt::format("layout: pp {} exceeds the {} layers", l.pp, m.layers));
  for (const auto& t : m.tensors)
    if (t.split_axis >= 0 && (t.shape[static_cast<size_t>(t.split_axis)] / t.groups) % (l.tp * t.unit))
      throw UsageError(fmt::format("layout: tp {} does not divide the {} {} of {}", l.tp, t.shape[static_cast<size_t>(t.split_axis)] / t.groups / t.unit,
                                   t.unit > 1 ? "heads" : "rows", t.name));
}

std::vector<Layout> layouts(const ModelLayout& m, int64_t ranks) {
  std::vector<Layout> out;
  for (int64_t pp = 1; pp <= ranks; ++pp)
    for (int64_t tp = 1; tp <= ranks / pp; ++tp) {
      if (ranks % (pp * tp)) continue;
      const Layout l{pp, tp, ranks / (pp * tp)};
      try {
        validate(m, l);
        out.push_back(l);
      } catch (const UsageError&) {
      }
    }
  return out;
}

bool holds(const ModelLayout& m, const Layout& l, int64_t r, const TensorSpec& t, int64_t& begin, int64_t& end) {
  const int64_t s = l.stage(r);
  const auto [a, b] = stage_layers(m.layers, l.pp, s);
  const bool owns = t.layer < 0 ? (s == 0 || (t.also_last && s == l.pp - 1))
                                 : (t.layer >= m.layers ? s == l.pp - 1 : (t.layer >= a && t.layer < b));
  if (!owns) return false;
  if (t.split_axis < 0) {
    begin = 0;
    end = 1;  // replicated: one whole piece
    return true;
  }
  const int64_t n = t.shape[static_cast<size_t>(t.split_axis)] / t.groups / l.tp;
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
  const int64_t esize = element_size(m);
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
          // a tensor held by two stages (a tied embedding) comes from one of them: the last stage's copy
          // feeds a last stage, the first stage's copy the first
          if (t.layer < 0 && t.also_last) {
            const bool to_last = to.stage(r2) == to.pp - 1 && to.stage(r2) != 0;
            if (s != (to_last ? from.pp - 1 : 0)) continue;
          }
          Piece p;
          p.src = r1;
          p.dst = r2;
          p.tensor = t.name;
          if (t.split_axis < 0) {
            if (tr != to.tp_rank(r2) % from.tp) continue;  // replicated: from one tensor-parallel rank (the same one when it can)
            int64_t n = 1;
            for (int64_t x : t.shape) n *= x;
            p.length = 1;
            p.bytes = esize * n;
          } else {
            const int64_t lo = std::max(b1, b2), hi = std::min(e1, e2);
            if (lo >= hi) continue;
            p.src_begin = lo - b1;
            p.dst_begin = lo - b2;
            p.length = hi - lo;
            p.bytes = esize * p.length * t.groups * per_row;
          }
          plan.bytes += p.bytes;
          if (src_devices[static_cast<size_t>(r1)] == dst_devices[static_cast<size_t>(r2)]) plan.local_bytes += p.bytes;
          plan.pieces.push_back(p);
        }
    }
  }
  return plan;
}

std::vector<int64_t> local_shape(const TensorSpec& t, int64_t begin, int64_t end) {
  std::vector<int64_t> shape = t.shape;
  if (t.split_axis >= 0) shape[static_cast<size_t>(t.split_axis)] = (end - begin) * t.groups;
  return shape;
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
      out[static_cast<size_t>(r)][t.name] = slice_of(t, it->second, b, e - b).clone().reshape(local_shape(t, b, e));
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
      out[static_cast<size_t>(r)][t.name] = torch::full(local_shape(t, b, e), std::numeric_limits<float>::quiet_NaN(), torch::dtype(m.dtype));
    }
  for (const auto& p : plan.pieces) {
    const TensorSpec& t = *spec.at(p.tensor);
    const torch::Tensor& from_shard = src[static_cast<size_t>(p.src)].at(p.tensor);
    torch::Tensor& to_shard = out[static_cast<size_t>(p.dst)].at(p.tensor);
    slice_of(t, to_shard, p.dst_begin, p.length).copy_(slice_of(t, from_shard, p.src_begin, p.length));
  }
  return out;
}

}  // namespace paramkit::rlhf::realloc
