// GPT-2 and Llama decoders with transformers' tensor names and layouts, one batched code path per
// family: fused matrix products (addmm/linear), grouped-query attention without repeating keys, and a
// preallocated KV cache written in place.
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "paramkit/core/error.h"
#include "paramkit/lm/model.h"

namespace paramkit::lm {
namespace {

// A module that only holds named parameters and children (transformers' module paths).
struct Node : torch::nn::Module {
  using torch::nn::Module::register_module;
  using torch::nn::Module::register_parameter;
};

std::shared_ptr<Node> child(torch::nn::Module& parent, const std::string& name) {
  auto n = std::make_shared<Node>();
  parent.register_module(name, n);
  return n;
}

torch::Tensor param(torch::nn::Module& m, const std::string& name, std::vector<int64_t> shape) {
  return m.register_parameter(name, torch::empty(shape));
}

double lowest(c10::ScalarType t) {
  switch (t) {
    case torch::kHalf: return -65504.0;
    case torch::kBFloat16: return -3.38e38;
    default: return std::numeric_limits<float>::lowest();
  }
}

// HF's inverse frequencies (float32, as transformers computes them), with linear or llama3 scaling.
torch::Tensor rope_inv_freq(const LmConfig& c) {
  auto ar = torch::arange(0, c.head_dim, 2, torch::kLong).to(torch::kFloat);
  auto inv = 1.0 / torch::pow(c.rope_theta, ar / static_cast<double>(c.head_dim));
  const RopeScaling& r = c.rope_scaling;
  if (r.type == "linear") return inv / r.factor;
  if (r.type == "llama3") {
    const double old_len = static_cast<double>(r.original_max_position_embeddings);
    const double low_wavelen = old_len / r.low_freq_factor, high_wavelen = old_len / r.high_freq_factor;
    auto wavelen = 2 * M_PI / inv;
    auto scaled = torch::where(wavelen > low_wavelen, inv / r.factor, inv);
    auto smooth = (old_len / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
    auto smoothed = (1 - smooth) * scaled / r.factor + smooth * scaled;
    auto medium = (wavelen >= high_wavelen).logical_and(wavelen <= low_wavelen);
    return torch::where(medium, smoothed, scaled);
  }
  return inv;
}

torch::Tensor rotate_half(const torch::Tensor& x) {
  const int64_t h = x.size(-1) / 2;
  return torch::cat({-x.narrow(-1, h, h), x.narrow(-1, 0, h)}, -1);
}

// q [B,nh,T,hd], k/v [B,nkv,S,hd], blocked [B,1,T,S] (true: not attended) -> [B,nh,T,hd].
torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& blocked,
                     double scale) {
  const int64_t B = q.size(0), nh = q.size(1), T = q.size(2), hd = q.size(3);
  const int64_t nkv = k.size(1), S = k.size(2), rep = nh / nkv;
#if defined(TORCH_VERSION_MAJOR) && TORCH_VERSION_MAJOR >= 2
  if (q.is_cuda()) {
    // Fused attention kernels; an additive finite mask keeps fully padded rows finite (no NaN).
    auto bias = torch::zeros({B, 1, T, S}, q.options()).masked_fill_(blocked, lowest(q.scalar_type()));
    auto kk = rep == 1 ? k : k.unsqueeze(2).expand({B, nkv, rep, S, hd}).reshape({B, nh, S, hd});
    auto vv = rep == 1 ? v : v.unsqueeze(2).expand({B, nkv, rep, S, hd}).reshape({B, nh, S, hd});
    return at::scaled_dot_product_attention(q, kk, vv, bias, 0.0, false);
  }
#endif
  // Heads of one key/value group side by side: no copy of the keys and values.
  auto qg = (q * scale).reshape({B, nkv, rep * T, hd});
  auto scores = torch::matmul(qg, k.transpose(-1, -2)).view({B, nkv, rep, T, S});
  scores.masked_fill_(blocked.unsqueeze(1), lowest(scores.scalar_type()));
  auto probs = torch::softmax(scores, -1, q.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat).to(q.scalar_type());
  return torch::matmul(probs.view({B, nkv, rep * T, S}), v).view({B, nh, T, hd});
}

// x [B,T,in] @ w [in,out] + b (GPT-2's Conv1D layout).
torch::Tensor conv1d(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  auto y = torch::addmm(b, x.reshape({-1, x.size(-1)}), w);
  auto shape = x.sizes().vec();
  shape.back() = w.size(1);
  return y.view(shape);
}

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& w, double eps) {
  auto xf = x.to(torch::kFloat);
  xf = xf * torch::rsqrt(xf.pow(2).mean(-1, true) + eps);
  return w * xf.to(x.scalar_type());
}

}  // namespace

struct CausalLMImpl::Impl {
  struct Layer {
    torch::Tensor ln1_w, ln1_b, ln2_w, ln2_b;                      // GPT-2 norms; Llama: ln1_w, ln2_w
    torch::Tensor qkv_w, qkv_b, o_w, o_b, fc_w, fc_b, proj_w, proj_b;  // GPT-2
    torch::Tensor q_w, k_w, v_w, gate_w, up_w, down_w;             // Llama (o_w shared name)
  };
  std::vector<Layer> layers;
  torch::Tensor embed, pos_embed, norm_w, norm_b, lm_head, score;
  torch::Tensor inv_freq;  // CPU float32
  torch::Tensor inv_freq_dev;
};

void Shard::validate(const LmConfig& c) const {
  auto bad = [&](const std::string& why) { throw UsageError("model shard (tp " + std::to_string(tp) + "): " + why); };
  if (tp < 1 || tp_rank < 0 || tp_rank >= tp) bad("tensor-parallel rank out of range");
  if (c.num_heads % tp || c.num_kv_heads % tp) bad("tp must divide the " + std::to_string(c.num_heads) + " heads and " + std::to_string(c.num_kv_heads) + " key/value heads");
  if (c.intermediate_size % tp) bad("tp must divide the MLP width " + std::to_string(c.intermediate_size));
  if (layer_begin < 0 || end(c) > c.num_layers || layer_begin >= end(c)) bad("empty or out-of-range layer range");
}

CausalLMImpl::CausalLMImpl(const LmConfig& c, Head head, uint64_t seed, bool initialize, const Shard& shard)
    : config_(c), head_(head), shard_(shard), impl_(std::make_shared<Impl>()) {
  c.validate();
  shard.validate(c);
  if (!shard.whole(c)) initialize = false;
  Impl& m = *impl_;
  const int64_t H = c.hidden_size, V = c.vocab_size, tp = shard.tp, I = c.intermediate_size / tp;
  const int64_t L = c.num_layers, l0 = shard.layer_begin, l1 = shard.end(c);
  const bool first = shard.first(), last = shard.last(c);
  const bool embed_here = first || (last && head == Head::lm && c.tie_word_embeddings);
  std::vector<std::pair<torch::Tensor, double>> normal;  // (tensor, std) for the random init
  const double sd = c.initializer_range;
  auto layer_list = std::make_shared<Node>();  // children named by global layer number
  if (c.arch == Arch::gpt2) {
    const int64_t Hl = H / tp;  // this shard's query (and key, value) width
    auto tr = child(*this, "transformer");
    if (embed_here) m.embed = param(*child(*tr, "wte"), "weight", {V, H});
    if (first) m.pos_embed = param(*child(*tr, "wpe"), "weight", {c.max_positions, H});
    if (first) {
      normal.push_back({m.embed, sd});
      normal.push_back({m.pos_embed, sd});
    }
    for (int64_t i = l0; i < l1; ++i) {
      auto blk = std::make_shared<Node>();
      Impl::Layer ly;
      auto ln1 = child(*blk, "ln_1");
      ly.ln1_w = param(*ln1, "weight", {H});
      ly.ln1_b = param(*ln1, "bias", {H});
      auto attn = child(*blk, "attn");
      auto ca = child(*attn, "c_attn");
      ly.qkv_w = param(*ca, "weight", {H, 3 * Hl});
      ly.qkv_b = param(*ca, "bias", {3 * Hl});
      auto cp = child(*attn, "c_proj");
      ly.o_w = param(*cp, "weight", {Hl, H});
      ly.o_b = param(*cp, "bias", {H});
      auto ln2 = child(*blk, "ln_2");
      ly.ln2_w = param(*ln2, "weight", {H});
      ly.ln2_b = param(*ln2, "bias", {H});
      auto mlp = child(*blk, "mlp");
      auto fc = child(*mlp, "c_fc");
      ly.fc_w = param(*fc, "weight", {H, I});
      ly.fc_b = param(*fc, "bias", {I});
      auto mp = child(*mlp, "c_proj");
      ly.proj_w = param(*mp, "weight", {I, H});
      ly.proj_b = param(*mp, "bias", {H});
      const double resid = sd / std::sqrt(2.0 * L);  // GPT-2's scaled residual projections
      normal.push_back({ly.qkv_w, sd});
      normal.push_back({ly.o_w, resid});
      normal.push_back({ly.fc_w, sd});
      normal.push_back({ly.proj_w, resid});
      m.layers.push_back(ly);
      layer_list->register_module(std::to_string(i), blk);
    }
    tr->register_module("h", layer_list);
    if (last) {
      auto lnf = child(*tr, "ln_f");
      m.norm_w = param(*lnf, "weight", {H});
      m.norm_b = param(*lnf, "bias", {H});
    }
  } else {
    const int64_t hd = c.head_dim, nh = c.num_heads / tp, nkv = c.num_kv_heads / tp;
    auto mo = child(*this, "model");
    if (embed_here) m.embed = param(*child(*mo, "embed_tokens"), "weight", {V, H});
    if (first) normal.push_back({m.embed, sd});
    for (int64_t i = l0; i < l1; ++i) {
      auto blk = std::make_shared<Node>();
      Impl::Layer ly;
      auto at = child(*blk, "self_attn");
      ly.q_w = param(*child(*at, "q_proj"), "weight", {nh * hd, H});
      ly.k_w = param(*child(*at, "k_proj"), "weight", {nkv * hd, H});
      ly.v_w = param(*child(*at, "v_proj"), "weight", {nkv * hd, H});
      ly.o_w = param(*child(*at, "o_proj"), "weight", {H, nh * hd});
      auto mlp = child(*blk, "mlp");
      ly.gate_w = param(*child(*mlp, "gate_proj"), "weight", {I, H});
      ly.up_w = param(*child(*mlp, "up_proj"), "weight", {I, H});
      ly.down_w = param(*child(*mlp, "down_proj"), "weight", {H, I});
      ly.ln1_w = param(*child(*blk, "input_layernorm"), "weight", {H});
      ly.ln2_w = param(*child(*blk, "post_attention_layernorm"), "weight", {H});
      for (auto* t : {&ly.q_w, &ly.k_w, &ly.v_w, &ly.o_w, &ly.gate_w, &ly.up_w, &ly.down_w}) normal.push_back({*t, sd});
      m.layers.push_back(ly);
      layer_list->register_module(std::to_string(i), blk);
    }
    mo->register_module("layers", layer_list);
    if (last) m.norm_w = param(*child(*mo, "norm"), "weight", {H});
    m.inv_freq = rope_inv_freq(c);
  }
  if (last && head == Head::lm) {
    if (!c.tie_word_embeddings) {
      m.lm_head = param(*child(*this, "lm_head"), "weight", {V, H});
      normal.push_back({m.lm_head, sd});
    }
  } else if (last) {
    m.score = param(*child(*this, "score"), "weight", {1, H});
    normal.push_back({m.score, sd});
  }
  if (!initialize) return;
  torch::NoGradGuard ng;
  at::Generator gen = at::detail::createCPUGenerator(seed);
  for (auto& [t, s] : normal) t.normal_(0.0, s, gen);
  for (auto& ly : m.layers)
    for (auto* t : {&ly.ln1_w, &ly.ln2_w}) t->fill_(1.0);
  if (m.norm_w.defined()) m.norm_w.fill_(1.0);
  for (auto& ly : m.layers)
    for (auto* t : {&ly.ln1_b, &ly.ln2_b, &ly.qkv_b, &ly.o_b, &ly.fc_b, &ly.proj_b})
      if (t->defined()) t->zero_();
  if (m.norm_b.defined()) m.norm_b.zero_();
}

torch::Tensor CausalLMImpl::embedding_weight() const { return impl_->embed; }
torch::Tensor CausalLMImpl::lm_head_weight() const {
  if (head_ != Head::lm) throw Error("lm_head_weight: the model has a score head");
  return impl_->lm_head.defined() ? impl_->lm_head : impl_->embed;
}
torch::Tensor CausalLMImpl::score_weight() const {
  if (head_ != Head::score) throw Error("score_weight: the model has an LM head");
  return impl_->score;
}
namespace {
// Any parameter of the shard (every shard holds a layer, the embedding or the head).
torch::Tensor any_parameter(const CausalLMImpl::Impl& m) {
  if (m.embed.defined()) return m.embed;
  if (!m.layers.empty()) return m.layers[0].ln1_w;
  return m.norm_w;
}
}  // namespace
c10::Device CausalLMImpl::device() const { return any_parameter(*impl_).device(); }
c10::ScalarType CausalLMImpl::dtype() const { return any_parameter(*impl_).scalar_type(); }

KvCache CausalLMImpl::make_cache(int64_t batch, int64_t capacity) const {
  KvCache cache;
  auto opt = torch::TensorOptions().dtype(dtype()).device(device()).requires_grad(false);
  const int64_t nkv = config_.num_kv_heads / shard_.tp;
  for (size_t i = 0; i < impl_->layers.size(); ++i) {
    cache.keys.push_back(torch::empty({batch, nkv, capacity, config_.head_dim}, opt));
    cache.values.push_back(torch::empty({batch, nkv, capacity, config_.head_dim}, opt));
  }
  return cache;
}

void KvCache::select_rows(const torch::Tensor& index) {
  for (auto& t : keys) t = t.index_select(0, index);
  for (auto& t : values) t = t.index_select(0, index);
}

torch::Tensor CausalLMImpl::hidden_states(const torch::Tensor& ids, const torch::Tensor& attention_mask, KvCache* cache) {
  if (!shard_.whole(config_)) throw Error("CausalLM: hidden_states of a model shard (use stage_forward)");
  return stage_forward(ids, attention_mask, cache, nullptr);
}

torch::Tensor CausalLMImpl::stage_forward(const torch::Tensor& input, const torch::Tensor& attention_mask, KvCache* cache,
                                          const TensorParallelOps* tp) {
  const LmConfig& c = config_;
  Impl& m = *impl_;
  const bool first = shard_.first(), last = shard_.last(c);
  if (shard_.tp > 1 && !tp) throw Error("CausalLM: a tensor-parallel shard needs its group's operations");
  TORCH_CHECK(first ? input.dim() == 2 : input.dim() == 3, "CausalLM: stage input must be ids [B, T] or hidden [B, T, H], got ",
              input.sizes());
  const int64_t B = input.size(0), T = input.size(1);
  const int64_t past = cache ? cache->length : 0, S = past + T;
  if (cache && (cache->batch() != B || S > cache->capacity()))
    throw Error("CausalLM: KV cache of " + std::to_string(cache->batch()) + " rows and " +
                std::to_string(cache->capacity()) + " positions cannot take " + std::to_string(B) + " rows up to " +
                std::to_string(S) + " positions");
  if (S > c.max_positions)
    throw UsageError("sequence of " + std::to_string(S) + " tokens exceeds the model's " +
                     std::to_string(c.max_positions) + " positions");
  const auto dev = device();
  const auto lopt = torch::TensorOptions().dtype(torch::kLong).device(dev);
  torch::Tensor mask;
  if (attention_mask.defined()) {
    TORCH_CHECK(attention_mask.dim() == 2 && attention_mask.size(0) == B && attention_mask.size(1) == S,
                "CausalLM: attention_mask must be [", B, ", ", S, "], got ", attention_mask.sizes());
    mask = attention_mask.to(dev, torch::kLong);
  } else {
    mask = torch::ones({B, S}, lopt);
  }
  auto pos = (mask.cumsum(1) - 1).masked_fill_(mask == 0, 1).narrow(1, past, T);
  // blocked[b, 0, i, j]: key j is padding or lies after query i (at position past + i).
  auto kpos = torch::arange(S, lopt);
  auto qpos = torch::arange(past, S, lopt);
  auto blocked = (kpos.unsqueeze(0) > qpos.unsqueeze(1)).unsqueeze(0).unsqueeze(0).logical_or((mask == 0).view({B, 1, 1, S}));

  const int64_t nh = c.num_heads / shard_.tp, nkv = c.num_kv_heads / shard_.tp, hd = c.head_dim, H = c.hidden_size;
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  torch::Tensor x;
  if (first) {
    x = torch::embedding(m.embed, input.to(dev, torch::kLong));
    if (c.arch == Arch::gpt2) x = x + torch::embedding(m.pos_embed, pos);
  } else {
    x = input;
  }
  torch::Tensor cos, sin;
  if (c.arch == Arch::llama) {
    if (!m.inv_freq_dev.defined() || m.inv_freq_dev.device() != dev) m.inv_freq_dev = m.inv_freq.to(dev);
    auto freqs = pos.to(torch::kFloat).unsqueeze(-1) * m.inv_freq_dev;  // [B,T,hd/2]
    auto emb = torch::cat({freqs, freqs}, -1);
    cos = emb.cos().to(x.scalar_type()).unsqueeze(1);  // [B,1,T,hd]
    sin = emb.sin().to(x.scalar_type()).unsqueeze(1);
  }
  auto with_cache = [&](size_t l, torch::Tensor k, torch::Tensor v) -> std::pair<torch::Tensor, torch::Tensor> {
    if (!cache) return {k, v};
    cache->keys[l].narrow(2, past, T).copy_(k);
    cache->values[l].narrow(2, past, T).copy_(v);
    return {cache->keys[l].narrow(2, 0, S), cache->values[l].narrow(2, 0, S)};
  };
  // Tensor parallelism: the normed input enters the column-parallel projections through copy_input; the
  // row-parallel partial sums are reduced before their bias and the residual.
  auto split_in = [&](const torch::Tensor& h) { return tp ? tp->copy_input(h) : h; };
  auto gpt2_row = [&](const torch::Tensor& a, const torch::Tensor& w, const torch::Tensor& b) {
    if (!tp) return conv1d(a, w, b);
    auto y = torch::matmul(a, w);
    return tp->reduce_output(y) + b;
  };
  auto reduce = [&](const torch::Tensor& y) { return tp ? tp->reduce_output(y) : y; };
  for (size_t l = 0; l < m.layers.size(); ++l) {
    const auto& ly = m.layers[l];
    if (c.arch == Arch::gpt2) {
      auto h = split_in(torch::layer_norm(x, {H}, ly.ln1_w, ly.ln1_b, c.norm_eps));
      auto qkv = conv1d(h, ly.qkv_w, ly.qkv_b).view({B, T, 3, nh, hd}).permute({2, 0, 3, 1, 4});  // [3,B,nh,T,hd]
      auto [k, v] = with_cache(l, qkv[1], qkv[2]);
      auto a = attend(qkv[0], k, v, blocked, scale).transpose(1, 2).reshape({B, T, nh * hd});
      x = x + gpt2_row(a, ly.o_w, ly.o_b);
      h = split_in(torch::layer_norm(x, {H}, ly.ln2_w, ly.ln2_b, c.norm_eps));
      x = x + gpt2_row(torch::gelu(conv1d(h, ly.fc_w, ly.fc_b), "tanh"), ly.proj_w, ly.proj_b);
    } else {
      auto h = split_in(rms_norm(x, ly.ln1_w, c.norm_eps));
      auto q = torch::linear(h, ly.q_w).view({B, T, nh, hd}).transpose(1, 2);
      auto k = torch::linear(h, ly.k_w).view({B, T, nkv, hd}).transpose(1, 2);
      auto v = torch::linear(h, ly.v_w).view({B, T, nkv, hd}).transpose(1, 2);
      q = q * cos + rotate_half(q) * sin;
      k = k * cos + rotate_half(k) * sin;
      auto [kk, vv] = with_cache(l, k, v);
      auto a = attend(q, kk, vv, blocked, scale).transpose(1, 2).reshape({B, T, nh * hd});
      x = x + reduce(torch::linear(a, ly.o_w));
      h = split_in(rms_norm(x, ly.ln2_w, c.norm_eps));
      x = x + reduce(torch::linear(torch::silu(torch::linear(h, ly.gate_w)) * torch::linear(h, ly.up_w), ly.down_w));
    }
  }
  if (cache) cache->length = S;
  if (!last) return x;
  return c.arch == Arch::gpt2 ? torch::layer_norm(x, {H}, m.norm_w, m.norm_b, c.norm_eps) : rms_norm(x, m.norm_w, c.norm_eps);
}

torch::Tensor CausalLMImpl::head_output(const torch::Tensor& hidden) {
  if (head_ == Head::lm) return torch::linear(hidden, lm_head_weight()).to(torch::kFloat);
  return torch::linear(hidden, impl_->score).squeeze(-1).to(torch::kFloat);
}

torch::Tensor CausalLMImpl::forward(const torch::Tensor& ids, const torch::Tensor& attention_mask, KvCache* cache) {
  return head_output(hidden_states(ids, attention_mask, cache));
}

torch::Tensor last_token_values(const torch::Tensor& values, const torch::Tensor& attention_mask) {
  TORCH_CHECK(values.dim() == 2 && attention_mask.sizes() == values.sizes(),
              "last_token_values: values and attention_mask must both be [B, T]");
  const int64_t T = values.size(1);
  auto m = attention_mask.to(values.device(), torch::kLong);
  auto idx = (torch::arange(1, T + 1, m.options()) * m).argmax(1, true);  // the last position holding a token
  return values.gather(1, idx).squeeze(1);
}

}  // namespace paramkit::lm
