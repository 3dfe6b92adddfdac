// ViT, ViT-MoE and WideNet as one pre-LN vision transformer with grouped weight sharing.
#include "paramkit/nn/vit.h"

#include <fmt/format.h>

#include <cmath>

#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"

namespace paramkit::nn {

VitOptions VitOptions::for_kind(const std::string& kind) {
  VitOptions o;
  o.kind = kind;
  if (kind == "vit") {
    o.share_group = 1;
    o.moe_every = 0;
  } else if (kind == "vit-moe") {
    o.share_group = 1;
    o.moe_every = 2;
  } else if (kind == "widenet") {
    o.share_group = 0;
    o.moe_every = 1;
  } else {
    throw UsageError(fmt::format("model '{}': expected vit, vit-moe or widenet", kind));
  }
  return o;
}

int64_t VitOptions::groups() const {
  const int64_t g = share_group == 0 ? depth : share_group;
  return (depth + g - 1) / g;
}
int64_t VitOptions::group_of(int64_t block) const { return block / (share_group == 0 ? depth : share_group); }
bool VitOptions::is_moe(int64_t block) const { return moe_every > 0 && block % moe_every == moe_every - 1; }
int64_t VitOptions::tokens() const { return (image_size / patch) * (image_size / patch) + 1; }

MoeOptions VitOptions::moe() const {
  MoeOptions m;
  m.dim = width;
  m.hidden = width * mlp_ratio;
  m.experts = experts;
  m.top_k = top_k;
  m.capacity_factor = capacity_factor;
  m.eval_capacity_factor = eval_capacity_factor;
  m.noise_std = noise_std;
  m.balance_alpha = balance_alpha;
  return m;
}

void VitOptions::validate() const {
  auto bad = [](const std::string& field, const std::string& why) { throw UsageError(fmt::format("{}: {}", field, why)); };
  auto in = [&](const std::string& field, int64_t v, int64_t lo, int64_t hi) {
    if (v < lo || v > hi) bad(field, fmt::format("{} is outside [{}, {}]", v, lo, hi));
  };
  if (kind != "vit" && kind != "vit-moe" && kind != "widenet") bad("model", fmt::format("'{}': expected vit, vit-moe or widenet", kind));
  in("image size", image_size, 1, 4096);
  in("channels", channels, 1, 64);
  in("patch", patch, 1, image_size);
  if (image_size % patch != 0) bad("patch", fmt::format("{} does not divide the image side {}", patch, image_size));
  in("classes", classes, 2, 1 << 20);
  in("depth", depth, 1, 1024);
  in("width", width, 1, 1 << 16);
  in("heads", heads, 1, width);
  if (width % heads != 0) bad("heads", fmt::format("{} does not divide the width {}", heads, width));
  in("mlp ratio", mlp_ratio, 1, 64);
  in("share group", share_group, 0, depth);
  in("moe every", moe_every, 0, depth);
  if (moe_every > 0) moe().validate();
  // A weight set's blocks must agree on their FFN (dense or MoE).
  for (int64_t b = 1; b < depth; ++b)
    if (group_of(b) == group_of(b - 1) && is_moe(b) != is_moe(b - 1))
      bad("moe every", fmt::format("{} mixes dense and MoE FFNs inside a group of {} shared blocks (use 1 or 0 with sharing)", moe_every,
                                   share_group == 0 ? depth : share_group));
  const double weights = static_cast<double>(depth) * 13.0 * static_cast<double>(width) * static_cast<double>(width) *
                         static_cast<double>(moe_every > 0 ? experts : 1);
  if (weights > 4e9) bad("depth x width", "more than 4e9 parameters");
}

nlohmann::json to_json(const VitOptions& o) {
  return {{"kind", o.kind},
          {"image_size", o.image_size},
          {"channels", o.channels},
          {"patch", o.patch},
          {"classes", o.classes},
          {"depth", o.depth},
          {"width", o.width},
          {"heads", o.heads},
          {"mlp_ratio", o.mlp_ratio},
          {"share_group", o.share_group},
          {"share_norms", o.share_norms},
          {"moe_every", o.moe_every},
          {"experts", o.experts},
          {"top_k", o.top_k},
          {"capacity_factor", o.capacity_factor},
          {"eval_capacity_factor", o.eval_capacity_factor},
          {"noise_std", o.noise_std},
          {"balance_alpha", o.balance_alpha}};
}

VitOptions vit_options_from_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) throw InputError(source, "model", "expected an object");
  VitOptions o;
  auto get = [&](const char* key, auto& v) {
    if (!j.contains(key)) throw InputError(source, fmt::format("model.{}", key), "missing");
    try {
      j.at(key).get_to(v);
    } catch (const nlohmann::json::exception&) {
      throw InputError(source, fmt::format("model.{}", key), "has the wrong type");
    }
  };
  get("kind", o.kind);
  get("image_size", o.image_size);
  get("channels", o.channels);
  get("patch", o.patch);
  get("classes", o.classes);
  get("depth", o.depth);
  get("width", o.width);
  get("heads", o.heads);
  get("mlp_ratio", o.mlp_ratio);
  get("share_group", o.share_group);
  get("share_norms", o.share_norms);
  get("moe_every", o.moe_every);
  get("experts", o.experts);
  get("top_k", o.top_k);
  get("capacity_factor", o.capacity_factor);
  get("eval_capacity_factor", o.eval_capacity_factor);
  get("noise_std", o.noise_std);
  get("balance_alpha", o.balance_alpha);
  try {
    o.validate();
  } catch (const UsageError& e) {
    throw InputError(source, "model", e.what());
  }
  return o;
}

VisionTransformerImpl::VisionTransformerImpl(const VitOptions& o) : o_(o) {
  o_.validate();
  const int64_t d = o.width;
  patch_ = register_module("patch", torch::nn::Conv2d(torch::nn::Conv2dOptions(o.channels, d, o.patch).stride(o.patch)));
  cls_ = register_parameter("cls", torch::zeros({1, 1, d}));
  pos_ = register_parameter("pos", torch::zeros({1, o.tokens(), d}));
  qkv_ = register_module("qkv", torch::nn::ModuleList());
  proj_ = register_module("proj", torch::nn::ModuleList());
  ffn_ = register_module("ffn", torch::nn::ModuleList());
  norm1_ = register_module("norm1", torch::nn::ModuleList());
  norm2_ = register_module("norm2", torch::nn::ModuleList());
  for (int64_t g = 0; g < o.groups(); ++g) {
    qkv_->push_back(torch::nn::Linear(d, 3 * d));
    proj_->push_back(torch::nn::Linear(d, d));
    const int64_t first = g * (o.share_group == 0 ? o.depth : o.share_group);
    if (o.is_moe(first))
      ffn_->push_back(Moe(o.moe()));
    else
      ffn_->push_back(FeedForward(d, d * o.mlp_ratio));
  }
  const int64_t norms = o.share_norms ? o.groups() : o.depth;
  for (int64_t i = 0; i < norms; ++i) {
    norm1_->push_back(torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
    norm2_->push_back(torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
  }
  norm_ = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
  head_ = register_module("head", torch::nn::Linear(d, o.classes));
  // ViT's initialisation: N(0, 0.02^2) for linear weights, positions and the class token; zero biases;
  // the patch embedding as a linear layer of its flattened patch.
  torch::NoGradGuard g;
  for (auto& p : named_parameters()) {
    const std::string& name = p.key();
    if (name.find("norm") != std::string::npos) continue;  // LayerNorms: weight 1, bias 0
    if (name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0)
      p.value().zero_();
    else if (name.rfind(".b1") == name.size() - 3 || name.rfind(".b2") == name.size() - 3)
      p.value().zero_();
    else
      p.value().normal_(0, 0.02);
  }
}

torch::Tensor VisionTransformerImpl::attention(int64_t set, const torch::Tensor& x) {
  const int64_t B = x.size(0), N = x.size(1), d = o_.width, h = o_.heads, hd = d / h;
  const torch::Tensor qkv = qkv_[set]->as<torch::nn::Linear>()->forward(x).view({B, N, 3, h, hd}).permute({2, 0, 3, 1, 4});
  const torch::Tensor q = qkv[0], k = qkv[1], v = qkv[2];  // [B, h, N, hd]
  const torch::Tensor att = torch::softmax(torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(hd)), -1);
  const torch::Tensor y = torch::matmul(att, v).transpose(1, 2).reshape({B, N, d});
  return proj_[set]->as<torch::nn::Linear>()->forward(y);
}

torch::Tensor VisionTransformerImpl::forward(const torch::Tensor& images) {
  torch::Tensor x = images.dim() == 3 ? images.unsqueeze(1) : images;
  TORCH_CHECK(x.dim() == 4 && x.size(1) == o_.channels && x.size(2) == o_.image_size && x.size(3) == o_.image_size,
              "expected images [B, ", o_.channels, ", ", o_.image_size, ", ", o_.image_size, "]");
  const int64_t B = x.size(0), d = o_.width;
  x = patch_(x).flatten(2).transpose(1, 2);                     // [B, P, d]
  x = torch::cat({cls_.expand({B, 1, d}), x}, 1) + pos_;       // [B, N, d]
  routing_.clear();
  aux_ = torch::zeros({}, x.options());
  for (int64_t b = 0; b < o_.depth; ++b) {
    const int64_t set = o_.group_of(b), norm = o_.share_norms ? set : b;
    x = x + attention(set, norm1_[norm]->as<torch::nn::LayerNorm>()->forward(x));
    const torch::Tensor hN = norm2_[norm]->as<torch::nn::LayerNorm>()->forward(x);
    if (o_.is_moe(b)) {
      MoeOutput m = ffn_[set]->as<Moe>()->forward(hN.reshape({-1, d}));
      x = x + m.y.view_as(x);
      aux_ = aux_ + m.balance;
      routing_.push_back({b, std::move(m.stats)});
    } else {
      x = x + ffn_[set]->as<FeedForward>()->forward(hN);
    }
  }
  return head_(norm_(x).select(1, 0));
}

std::vector<ParamCount> count_parameters(const VitOptions& o) {
  VisionTransformer model(o);
  const int64_t group = o.share_group == 0 ? o.depth : o.share_group;
  auto uses_of_set = [&](int64_t set) { return std::min(o.depth, (set + 1) * group) - set * group; };
  std::vector<ParamCount> rows = {{"patch embedding"}, {"class token + positions"}, {"attention"}, {"ffn (dense)"},
                                  {"moe experts"},     {"moe router"},              {"block layer norms"}, {"final norm + head"}};
  auto row = [&](const std::string& c) -> ParamCount& {
    for (auto& r : rows)
      if (r.component == c) return r;
    throw Error("no component " + c);
  };
  for (const auto& p : model->named_parameters()) {
    const std::string& n = p.key();
    const int64_t numel = p.value().numel();
    auto index = [&](const std::string& prefix) { return std::stoll(n.substr(prefix.size(), n.find('.', prefix.size()) - prefix.size())); };
    ParamCount* r = nullptr;
    int64_t uses = 1;
    double active = 1;
    if (n.rfind("patch.", 0) == 0) {
      r = &row("patch embedding");
    } else if (n == "cls" || n == "pos") {
      r = &row("class token + positions");
    } else if (n.rfind("qkv.", 0) == 0 || n.rfind("proj.", 0) == 0) {
      r = &row("attention");
      uses = uses_of_set(index(n.rfind("qkv.", 0) == 0 ? "qkv." : "proj."));
    } else if (n.rfind("ffn.", 0) == 0) {
      const int64_t set = index("ffn.");
      uses = uses_of_set(set);
      if (n.find(".router.") != std::string::npos) {
        r = &row("moe router");
      } else if (o.is_moe(set * group)) {
        r = &row("moe experts");
        active = static_cast<double>(o.top_k) / static_cast<double>(o.experts);
      } else {
        r = &row("ffn (dense)");
      }
    } else if (n.rfind("norm1.", 0) == 0 || n.rfind("norm2.", 0) == 0) {
      r = &row("block layer norms");
      if (o.share_norms) uses = uses_of_set(index(n.substr(0, 6)));
    } else {
      r = &row("final norm + head");
    }
    r->trainable += numel;
    r->unrolled += numel * uses;
    r->active += static_cast<int64_t>(std::llround(static_cast<double>(numel * uses) * active));
  }
  ParamCount total{"total"};
  for (const auto& r : rows) {
    total.trainable += r.trainable;
    total.unrolled += r.unrolled;
    total.active += r.active;
  }
  rows.push_back(total);
  return rows;
}

}  // namespace paramkit::nn

namespace paramkit::nn {

void RoutingSummary::clear() { *this = RoutingSummary(); }

void RoutingSummary::add(const std::vector<BlockRouting>& pass) {
  if (blocks.empty()) {
    for (const auto& b : pass) {
      blocks.push_back(b.block);
      load.emplace_back(b.stats.load.size(), 0.0);
      dropped.push_back(0);
      balance.push_back(0);
      tokens_.push_back(0);
    }
  }
  if (pass.size() != blocks.size()) throw Error("routing summary: the number of MoE blocks changed between passes");
  for (size_t i = 0; i < pass.size(); ++i) {
    const double t0 = tokens_[i], t = static_cast<double>(pass[i].stats.tokens), w = t / std::max(1.0, t0 + t);
    for (size_t e = 0; e < load[i].size(); ++e) load[i][e] += w * (pass[i].stats.load[e] - load[i][e]);
    dropped[i] += w * (pass[i].stats.dropped - dropped[i]);
    balance[i] += w * (pass[i].stats.balance - balance[i]);
    tokens_[i] = t0 + t;
  }
}

double RoutingSummary::mean_dropped() const {
  double s = 0;
  for (double d : dropped) s += d;
  return dropped.empty() ? 0.0 : s / static_cast<double>(dropped.size());
}

double RoutingSummary::total_balance() const {
  double s = 0;
  for (double b : balance) s += b;
  return s;
}

nlohmann::json RoutingSummary::to_json() const {
  return {{"blocks", blocks}, {"load", load}, {"dropped", dropped}, {"balance", balance}};
}

TrainResult train_vit(VisionTransformerImpl& model, const Dataset& data, const TrainOptions& o, double label_smoothing, uint64_t seed,
                      c10::Device device) {
  o.validate();
  if (data.size() == 0) throw InputError("training data", "", "no examples to train on");
  if (!std::isfinite(label_smoothing) || label_smoothing < 0 || label_smoothing >= 1)
    throw UsageError(fmt::format("label smoothing {} is outside [0, 1)", label_smoothing));
  model.to(device);
  model.train();
  auto optimizer = make_optimizer(o.optimizer, model.parameters());
  // The log window's sums (reset at every record).
  int64_t correct = 0, seen = 0, steps = 0;
  double ce_sum = 0;
  RoutingSummary routing;
  const auto ce_options = torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(label_smoothing);
  return train_steps(
      model, *optimizer, data.size(), o, seed, "train",
      [&](const std::vector<int64_t>& rows, const TrainPosition&) {
        const torch::Tensor idx = torch::tensor(rows, torch::kInt64);
        const torch::Tensor x = data.x.index_select(0, idx).to(device), y = data.y.index_select(0, idx).to(device);
        const torch::Tensor logits = model.forward(x);
        const torch::Tensor ce = torch::nn::functional::cross_entropy(logits, y, ce_options);
        const torch::Tensor loss = ce + model.aux_loss();
        loss.backward();
        correct += logits.argmax(1).eq(y).sum().item<int64_t>();
        seen += static_cast<int64_t>(rows.size());
        ce_sum += ce.item<double>();
        ++steps;
        routing.add(model.routing());
        return loss.item<double>();
      },
      {},
      [&](nlohmann::json& r) {
        r["accuracy"] = seen > 0 ? static_cast<double>(correct) / static_cast<double>(seen) : 0.0;
        r["cross_entropy"] = steps > 0 ? ce_sum / static_cast<double>(steps) : 0.0;
        if (!routing.blocks.empty()) {
          r["balance_loss"] = routing.total_balance();
          r["dropped"] = routing.mean_dropped();
          r["load"] = routing.load;
        }
        correct = seen = steps = 0;
        ce_sum = 0;
        routing.clear();
      });
}

VitEval evaluate_vit(VisionTransformerImpl& model, const Dataset& data, int64_t batch_size, c10::Device device) {
  VitEval r;
  const Forward forward = [&](const torch::Tensor& x) {
    check_stop();  // a SIGTERM during a long evaluation ends it within a batch
    torch::Tensor logits = model.forward(x);
    r.routing.add(model.routing());
    return logits;
  };
  r.result = evaluate(model, forward, data, batch_size, device);
  return r;
}

}  // namespace paramkit::nn
