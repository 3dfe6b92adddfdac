// Fourier embedding, MLP denoiser, EMA of weights.
#include "paramkit/nn/denoiser.h"

#include <fmt/format.h>

#include <cmath>

#include "paramkit/core/error.h"

namespace paramkit::nn {

FourierEmbeddingImpl::FourierEmbeddingImpl(int64_t channels, double scale) {
  if (channels < 2 || channels % 2 != 0) throw UsageError(fmt::format("Fourier embedding: {} channels (a positive even number)", channels));
  freqs = register_buffer("freqs", torch::randn({channels / 2}) * scale);
}

torch::Tensor FourierEmbeddingImpl::forward(const torch::Tensor& c) {
  const torch::Tensor a = c.to(freqs.dtype()).unsqueeze(1) * (2 * M_PI * freqs).unsqueeze(0);
  return torch::cat({a.cos(), a.sin()}, 1);
}

MlpDenoiserImpl::MlpDenoiserImpl(int64_t dim, std::vector<int64_t> hidden, int64_t embedding) {
  if (dim < 1 || hidden.empty()) throw UsageError("MLP denoiser: a positive dimension and at least one hidden layer");
  emb_ = register_module("emb", FourierEmbedding(embedding, 1.0));
  emb1_ = register_module("emb1", torch::nn::Linear(embedding, embedding));
  emb2_ = register_module("emb2", torch::nn::Linear(embedding, embedding));
  int64_t in = dim;
  for (size_t i = 0; i < hidden.size(); ++i) {
    layers_.push_back(register_module(fmt::format("fc{}", i), torch::nn::Linear(in, hidden[i])));
    cond_.push_back(register_module(fmt::format("cond{}", i), torch::nn::Linear(embedding, hidden[i])));
    in = hidden[i];
  }
  out_ = register_module("out", torch::nn::Linear(in, dim));
  torch::NoGradGuard g;
  out_->weight.zero_();
  out_->bias.zero_();
}

torch::Tensor MlpDenoiserImpl::forward(const torch::Tensor& x, const torch::Tensor& c_noise) {
  const torch::Tensor e = torch::silu(emb2_(torch::silu(emb1_(emb_(c_noise)))));
  torch::Tensor h = x;
  for (size_t i = 0; i < layers_.size(); ++i) h = torch::silu(layers_[i](h) + cond_[i](e));
  return out_(h);
}

namespace {
int64_t groups_for(int64_t ch) { return ch % 8 == 0 ? 8 : (ch % 4 == 0 ? 4 : 1); }

// Residual block: GN, SiLU, conv; + embedding per channel; GN, SiLU, conv (zero-initialised); 1x1 skip.
struct ResBlockImpl : torch::nn::Module {
  ResBlockImpl(int64_t in, int64_t out, int64_t emb, bool attention) {
    n1 = register_module("n1", torch::nn::GroupNorm(groups_for(in), in));
    c1 = register_module("c1", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1)));
    e = register_module("e", torch::nn::Linear(emb, out));
    n2 = register_module("n2", torch::nn::GroupNorm(groups_for(out), out));
    c2 = register_module("c2", torch::nn::Conv2d(torch::nn::Conv2dOptions(out, out, 3).padding(1)));
    if (in != out) skip = register_module("skip", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1)));
    if (attention) {
      an = register_module("an", torch::nn::GroupNorm(groups_for(out), out));
      qkv = register_module("qkv", torch::nn::Conv2d(torch::nn::Conv2dOptions(out, 3 * out, 1)));
      proj = register_module("proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(out, out, 1)));
    }
    torch::NoGradGuard g;
    c2->weight.zero_();
    c2->bias.zero_();
    if (proj) {
      proj->weight.zero_();
      proj->bias.zero_();
    }
  }
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& emb) {
    torch::Tensor h = c1(torch::silu(n1(x)));
    h = h + e(emb).unsqueeze(2).unsqueeze(3);
    h = c2(torch::silu(n2(h)));
    h = h + (skip ? skip(x) : x);
    if (qkv) {  // single-head self-attention over the H W positions
      const int64_t B = h.size(0), C = h.size(1), HW = h.size(2) * h.size(3);
      const torch::Tensor q3 = qkv(an(h)).view({B, 3, C, HW});
      const torch::Tensor att = torch::softmax(torch::bmm(q3.select(1, 0).transpose(1, 2), q3.select(1, 1)) / std::sqrt(static_cast<double>(C)), -1);
      const torch::Tensor a = torch::bmm(q3.select(1, 2), att.transpose(1, 2)).view(h.sizes());
      h = h + proj(a);
    }
    return h;
  }
  torch::nn::GroupNorm n1{nullptr}, n2{nullptr}, an{nullptr};
  torch::nn::Conv2d c1{nullptr}, c2{nullptr}, skip{nullptr}, qkv{nullptr}, proj{nullptr};
  torch::nn::Linear e{nullptr};
};
TORCH_MODULE(ResBlock);
}  // namespace

void UNetOptions::validate() const {
  auto bad = [](const std::string& f, const std::string& why) { throw UsageError(fmt::format("U-Net {}: {}", f, why)); };
  if (channels < 1 || channels > 64) bad("channels", fmt::format("{} is outside [1, 64]", channels));
  if (base < 1 || base > 4096) bad("base", fmt::format("{} is outside [1, 4096]", base));
  if (mult.empty() || mult.size() > 8) bad("mult", "1 to 8 levels");
  for (int64_t m : mult)
    if (m < 1 || m > 64) bad("mult", fmt::format("{} is outside [1, 64]", m));
  if (blocks < 1 || blocks > 16) bad("blocks", fmt::format("{} is outside [1, 16]", blocks));
  if (embedding < 2 || embedding % 2 != 0) bad("embedding", "must be a positive even number");
}

UNetImpl::UNetImpl(const UNetOptions& o) : o_(o) {
  o.validate();
  emb_ = register_module("emb", FourierEmbedding(64));
  emb1_ = register_module("emb1", torch::nn::Linear(64, o.embedding));
  emb2_ = register_module("emb2", torch::nn::Linear(o.embedding, o.embedding));
  stem_ = register_module("stem", torch::nn::Conv2d(torch::nn::Conv2dOptions(o.channels, o.base, 3).padding(1)));
  enc_ = register_module("enc", torch::nn::ModuleList());
  dec_ = register_module("dec", torch::nn::ModuleList());
  down_ = register_module("down", torch::nn::ModuleList());
  up_ = register_module("up", torch::nn::ModuleList());
  mid_ = register_module("mid", torch::nn::ModuleList());
  // Channels of every skip, in push order.
  std::vector<int64_t> skips = {o.base};
  int64_t ch = o.base;
  const int64_t L = static_cast<int64_t>(o.mult.size());
  for (int64_t l = 0; l < L; ++l) {
    const int64_t out = o.base * o.mult[l];
    const bool attn = l == L - 1 && L > 1;
    for (int64_t b = 0; b < o.blocks; ++b) {
      enc_->push_back(ResBlock(ch, out, o.embedding, attn));
      ch = out;
      skips.push_back(ch);
    }
    if (l + 1 < L) {
      down_->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(ch, ch, 3).stride(2).padding(1)));
      skips.push_back(ch);
    }
  }
  mid_->push_back(ResBlock(ch, ch, o.embedding, L > 1));
  mid_->push_back(ResBlock(ch, ch, o.embedding, false));
  for (int64_t l = L - 1; l >= 0; --l) {
    const int64_t out = o.base * o.mult[l];
    const bool attn = l == L - 1 && L > 1;
    for (int64_t b = 0; b <= o.blocks; ++b) {
      const int64_t s = skips.back();
      skips.pop_back();
      dec_->push_back(ResBlock(ch + s, out, o.embedding, attn));
      ch = out;
    }
    if (l > 0) up_->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(ch, ch, 3).padding(1)));
  }
  out_norm_ = register_module("out_norm", torch::nn::GroupNorm(groups_for(ch), ch));
  out_ = register_module("out", torch::nn::Conv2d(torch::nn::Conv2dOptions(ch, o.channels, 3).padding(1)));
  torch::NoGradGuard g;
  out_->weight.zero_();
  out_->bias.zero_();
}

torch::Tensor UNetImpl::forward(const torch::Tensor& x, const torch::Tensor& c_noise) {
  const int64_t L = static_cast<int64_t>(o_.mult.size()), f = int64_t{1} << (L - 1);
  TORCH_CHECK(x.dim() == 4 && x.size(1) == o_.channels && x.size(2) % f == 0 && x.size(3) % f == 0, "U-Net input must be [B, ", o_.channels,
              ", H, W] with H, W divisible by ", f);
  const torch::Tensor emb = torch::silu(emb2_(torch::silu(emb1_(emb_(c_noise)))));
  std::vector<torch::Tensor> skips;
  torch::Tensor h = stem_(x);
  skips.push_back(h);
  size_t e = 0, d = 0;
  for (int64_t l = 0; l < L; ++l) {
    for (int64_t b = 0; b < o_.blocks; ++b) {
      h = enc_[e++]->as<ResBlock>()->forward(h, emb);
      skips.push_back(h);
    }
    if (l + 1 < L) {
      h = down_[d++]->as<torch::nn::Conv2d>()->forward(h);
      skips.push_back(h);
    }
  }
  h = mid_[0]->as<ResBlock>()->forward(h, emb);
  h = mid_[1]->as<ResBlock>()->forward(h, emb);
  size_t k = 0, u = 0;
  for (int64_t l = L - 1; l >= 0; --l) {
    for (int64_t b = 0; b <= o_.blocks; ++b) {
      h = dec_[k++]->as<ResBlock>()->forward(torch::cat({h, skips.back()}, 1), emb);
      skips.pop_back();
    }
    if (l > 0) {
      h = torch::nn::functional::interpolate(h, torch::nn::functional::InterpolateFuncOptions().scale_factor(std::vector<double>{2, 2}).mode(torch::kNearest));
      h = up_[u++]->as<torch::nn::Conv2d>()->forward(h);
    }
  }
  return out_(torch::silu(out_norm_(h)));
}

Ema::Ema(const torch::nn::Module& module, double decay) : decay_(decay) {
  if (!(decay >= 0 && decay < 1)) throw UsageError(fmt::format("EMA decay {} is outside [0, 1)", decay));
  for (const auto& p : module.parameters()) shadow_.push_back(p.detach().clone());
}

void Ema::update(const torch::nn::Module& module, int64_t step) {
  torch::NoGradGuard g;
  const double d = step < 0 ? decay_ : std::min(decay_, (1.0 + static_cast<double>(step)) / (10.0 + static_cast<double>(step)));
  const auto params = module.parameters();
  for (size_t i = 0; i < params.size(); ++i) shadow_[i].mul_(d).add_(params[i].detach(), 1 - d);
}

void Ema::copy_to(torch::nn::Module& module) const {
  torch::NoGradGuard g;
  auto params = module.parameters();
  if (params.size() != shadow_.size()) throw Error("EMA: the module's parameters differ from the averaged one's");
  for (size_t i = 0; i < params.size(); ++i) params[i].copy_(shadow_[i]);
}

}  // namespace paramkit::nn
