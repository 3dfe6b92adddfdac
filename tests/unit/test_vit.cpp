// ViT / ViT-MoE / WideNet (nn/vit.h) and the MoE layer (nn/moe.h): parameter counts, the balance loss,
// capacity and drops on hand-made router logits, index dispatch against the dense one-hot reference,
// the MoE against a dense FFN, and the shared weights' gradient against unshared copies.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include <cmath>

#include "paramkit/core/error.h"
#include "paramkit/nn/moe.h"
#include "paramkit/nn/vit.h"

using namespace paramkit;
using namespace paramkit::nn;

namespace {
int64_t trainable(const VitOptions& o) { return count_parameters(o).back().trainable; }
VitOptions tiny(const std::string& kind, int64_t depth = 3) {
  VitOptions o = VitOptions::for_kind(kind);
  o.image_size = 8;
  o.patch = 4;
  o.depth = depth;
  o.width = 8;
  o.heads = 2;
  o.mlp_ratio = 2;
  return o;
}
}  // namespace

TEST_CASE("WideNet: adding a block adds exactly 4 d parameters (its two LayerNorms), shared norms add none") {
  for (int64_t d : {8, 64}) {
    VitOptions o = VitOptions::for_kind("widenet");
    o.width = d;
    o.heads = 4;
    o.depth = 4;
    const int64_t four = trainable(o);
    o.depth = 5;
    CHECK(trainable(o) - four == 4 * d);
    o.share_norms = true;
    const int64_t shared5 = trainable(o);
    o.depth = 6;
    CHECK(trainable(o) == shared5);
  }
  // ViT: a block adds its attention (4 d^2 + 4 d), FFN (2 r d^2 + (r + 1) d) and norms (4 d)
  VitOptions v = tiny("vit", 2);
  const int64_t two = trainable(v);
  v.depth = 3;
  const int64_t d = v.width, r = v.mlp_ratio;
  CHECK(trainable(v) - two == 4 * d * d + 4 * d + 2 * r * d * d + (r + 1) * d + 4 * d);
}

TEST_CASE("parameter counts: trainable once per shared tensor, unrolled once per use, active k of E experts") {
  VitOptions w = tiny("widenet", 4);
  const auto rows = count_parameters(w);
  VisionTransformer m(w);
  int64_t all = 0;
  for (const auto& p : m->parameters()) all += p.numel();
  CHECK(rows.back().component == "total");
  CHECK(rows.back().trainable == all);
  for (const auto& r : rows) {
    if (r.component == "attention" || r.component == "moe router") CHECK(r.unrolled == 4 * r.trainable);
    if (r.component == "moe experts") {
      CHECK(r.unrolled == 4 * r.trainable);
      CHECK(r.active == r.unrolled / 2);  // k = 2 of E = 4
    }
    if (r.component == "block layer norms") CHECK(r.unrolled == r.trainable);
  }
  // the same network without sharing has `unrolled` trainable parameters
  VitOptions u = w;
  u.share_group = 1;
  CHECK(trainable(u) == rows.back().unrolled);
}

TEST_CASE("balance loss: alpha for uniform routing, alpha E for collapsed routing") {
  const int64_t E = 4, T = 32;
  const double alpha = 0.01;
  torch::Tensor uniform = torch::zeros({T, E});
  for (int64_t t = 0; t < T; ++t) uniform[t][t % E] = 5.0;  // first choices spread evenly, mean probabilities 1/E
  CHECK(balance_loss(route_tokens(uniform, 2, T), alpha).item<double>() == doctest::Approx(alpha).epsilon(1e-6));
  torch::Tensor collapsed = torch::zeros({T, E});
  collapsed.select(1, 2).fill_(100.0);
  CHECK(balance_loss(route_tokens(collapsed, 2, T), alpha).item<double>() == doctest::Approx(alpha * E).epsilon(1e-6));
}

TEST_CASE("capacity and the drop rule on hand-made router logits") {
  CHECK(expert_capacity(5, 0.5, 2, 2) == 2);
  CHECK(expert_capacity(100, 1.2, 2, 4) == 60);
  CHECK(expert_capacity(1, 1.2, 2, 4) == 1);   // at least one slot
  CHECK(expert_capacity(7, 0.0, 2, 4) == 7);   // no limit
  // 5 tokens, 2 experts, top-2, capacity 2: first choices 0,0,1,0,1 fill expert 0 with tokens 0,1 (token 3
  // dropped) and expert 1 with tokens 2,4; every second choice comes after the first choices: dropped.
  const torch::Tensor logits = torch::tensor({2.0, 0.0, 1.0, 0.0, 0.0, 3.0, 4.0, 1.0, 0.0, 0.5}).view({5, 2});
  const Routing r = route_tokens(logits, 2, 2);
  CHECK(torch::equal(r.expert.select(1, 0), torch::tensor({0, 0, 1, 0, 1}, torch::kInt64)));
  CHECK(torch::equal(r.position.select(1, 0), torch::tensor({0, 1, 0, 2, 1}, torch::kInt64)));
  CHECK(torch::equal(r.position.select(1, 1), torch::tensor({2, 3, 3, 4, 4}, torch::kInt64)));
  CHECK(torch::equal(r.kept.select(1, 0), torch::tensor({true, true, true, false, true})));
  CHECK_FALSE(r.kept.select(1, 1).any().item<bool>());
  CHECK(torch::allclose(r.gate.select(1, 0), std::get<0>(torch::softmax(logits, 1).max(1))));

  // The layer with these logits (router weights fixed so that router(x) = x, E = d = 2): the dropped
  // token passes unchanged (output 0), kept tokens get gate x expert(x).
  MoeOptions o;
  o.dim = 2;
  o.hidden = 3;
  o.experts = 2;
  o.top_k = 2;
  o.eval_capacity_factor = 0.5;
  Moe moe(o);
  moe->eval();
  {
    torch::NoGradGuard g;
    moe->router->weight.copy_(torch::eye(2));
  }
  const MoeOutput out = moe->forward(logits);
  CHECK(torch::allclose(out.y[3], torch::zeros({2})));
  const torch::Tensor x0 = logits[0];
  const torch::Tensor e0 = torch::addmm(moe->b2[0].unsqueeze(0), torch::gelu(torch::addmm(moe->b1[0].unsqueeze(0), x0.unsqueeze(0), moe->w1[0])), moe->w2[0])[0];
  CHECK(torch::allclose(out.y[0], r.gate[0][0] * e0, 1e-5, 1e-7));
  CHECK(out.stats.dropped == doctest::Approx(6.0 / 10.0));
  CHECK(out.stats.load[0] == doctest::Approx(0.2));
  CHECK(out.stats.load[1] == doctest::Approx(0.2));
}

TEST_CASE("MoE with E = 1, k = 1 and no capacity limit equals a dense FFN") {
  torch::manual_seed(1);
  MoeOptions o;
  o.dim = 6;
  o.hidden = 10;
  o.experts = 1;
  o.top_k = 1;
  o.capacity_factor = 0;
  o.eval_capacity_factor = 0;
  Moe moe(o);
  FeedForward ffn(6, 10);
  {
    torch::NoGradGuard g;
    moe->b1.normal_();
    moe->b2.normal_();
    ffn->fc1->weight.copy_(moe->w1[0].t());
    ffn->fc1->bias.copy_(moe->b1[0]);
    ffn->fc2->weight.copy_(moe->w2[0].t());
    ffn->fc2->bias.copy_(moe->b2[0]);
  }
  const torch::Tensor x = torch::randn({50, 6});
  const MoeOutput out = moe->forward(x);  // training mode: the noise moves logits, not the single gate
  CHECK(torch::allclose(out.y, ffn->forward(x), 1e-5, 1e-6));
  CHECK(out.stats.dropped == 0);
}

TEST_CASE("index dispatch equals the dense one-hot reference: outputs and gradients, with tokens dropped") {
  torch::manual_seed(2);
  MoeOptions o;
  o.dim = 8;
  o.hidden = 12;
  o.experts = 4;
  o.top_k = 2;
  o.capacity_factor = 0.6;
  Moe moe(o);
  const torch::Tensor x = torch::randn({40, 8}, torch::requires_grad());
  const torch::Tensor w = torch::randn({40, 8});
  auto run = [&](bool dense) {
    torch::manual_seed(9);  // the same router noise
    moe->zero_grad();
    if (x.grad().defined()) x.grad().zero_();
    MoeOutput out = dense ? moe->forward_dense(x) : moe->forward(x);
    ((out.y * w).sum() + out.balance).backward();
    std::vector<torch::Tensor> g = {out.y.detach().clone(), x.grad().clone()};
    for (const auto& p : moe->parameters()) g.push_back(p.grad().clone());
    return std::make_pair(g, out.stats);
  };
  const auto [a, sa] = run(false);
  const auto [b, sb] = run(true);
  CHECK(sa.dropped > 0.05);  // the capacity bites
  CHECK(sa.dropped == doctest::Approx(sb.dropped));
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CAPTURE(i);
    CHECK(torch::allclose(a[i], b[i], 1e-5, 1e-6));
  }
}

TEST_CASE("WideNet's shared weights: gradient = the sum of the per-block contributions of unshared copies, and finite differences") {
  torch::manual_seed(3);
  VitOptions ws = tiny("widenet", 3);
  ws.noise_std = 0;
  ws.capacity_factor = 0;
  VitOptions wu = ws;
  wu.share_group = 1;  // the same network with one copy of the weights per block
  VisionTransformer shared(ws), unshared(wu);
  auto sp = shared->named_parameters(), up = unshared->named_parameters();
  {
    torch::NoGradGuard g;
    for (const auto& p : up) {
      std::string n = p.key();
      for (const char* list : {"qkv.", "proj.", "ffn."})
        if (n.rfind(list, 0) == 0) n = std::string(list) + "0" + n.substr(n.find('.', std::string(list).size()));
      p.value().copy_(sp[n]);
    }
  }
  const torch::Tensor x = torch::randn({5, 1, 8, 8}), y = torch::randint(0, 10, {5}, torch::kInt64);
  auto loss_of = [&](VisionTransformer& m) { return torch::nn::functional::cross_entropy(m->forward(x), y) + m->aux_loss(); };
  const torch::Tensor ls = loss_of(shared), lu = loss_of(unshared);
  CHECK(ls.item<double>() == doctest::Approx(lu.item<double>()).epsilon(1e-6));
  ls.backward();
  lu.backward();
  for (const auto& p : sp) {
    const std::string& n = p.key();
    torch::Tensor want;
    for (const char* list : {"qkv.", "proj.", "ffn."})
      if (n.rfind(list, 0) == 0) {
        const std::string rest = n.substr(n.find('.', std::string(list).size()));
        want = up[std::string(list) + "0" + rest].grad() + up[std::string(list) + "1" + rest].grad() + up[std::string(list) + "2" + rest].grad();
      }
    if (!want.defined()) want = up[n].grad();
    CAPTURE(n);
    CHECK(torch::allclose(p.value().grad(), want, 1e-4, 1e-6));
  }
  // one shared attention weight and one expert weight against central differences (double precision)
  shared->to(torch::kFloat64);
  const torch::Tensor xd = x.to(torch::kFloat64);
  auto loss_d = [&] {
    torch::NoGradGuard g;
    return (torch::nn::functional::cross_entropy(shared->forward(xd), y) + shared->aux_loss()).item<double>();
  };
  shared->zero_grad();
  (torch::nn::functional::cross_entropy(shared->forward(xd), y) + shared->aux_loss()).backward();
  for (const char* name : {"qkv.0.weight", "ffn.0.w1"}) {
    torch::Tensor p = shared->named_parameters()[name];
    const double analytic = p.grad().reshape(-1)[3].item<double>();
    const double h = 1e-6;
    torch::Tensor flat = p.detach().view(-1);
    const double keep = flat[3].item<double>();
    flat[3] = keep + h;
    const double up_l = loss_d();
    flat[3] = keep - h;
    const double dn_l = loss_d();
    flat[3] = keep;
    const std::string param = name;
    CAPTURE(param);
    CHECK(std::abs((up_l - dn_l) / (2 * h) - analytic) < 1e-6 + 1e-4 * std::abs(analytic));
  }
}

TEST_CASE("ViT options: bad values are usage errors naming the field, a JSON round trip is exact") {
  VitOptions o = tiny("vit");
  o.patch = 3;  // does not divide 8
  CHECK_THROWS_AS(o.validate(), UsageError);
  o = tiny("widenet");
  o.moe_every = 2;  // mixes dense and MoE in one shared group
  CHECK_THROWS_AS(o.validate(), UsageError);
  o = tiny("vit-moe");
  o.top_k = 5;
  CHECK_THROWS_AS(o.validate(), UsageError);
  o = tiny("vit-moe");
  const VitOptions back = vit_options_from_json(to_json(o), "model.json");
  CHECK(to_json(back) == to_json(o));
  nlohmann::json j = to_json(o);
  j.erase("depth");
  CHECK_THROWS_AS(vit_options_from_json(j, "model.json"), InputError);
}
