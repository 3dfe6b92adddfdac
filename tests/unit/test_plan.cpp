// ReaLHF plans (rlhf/plan.h): list scheduling on a hand-made graph, the MCMC search against brute force
// over a plan space small enough to enumerate, and bad plans.
#include <doctest/doctest.h>

#include <functional>

#include "paramkit/core/error.h"
#include "paramkit/lm/model.h"
#include "paramkit/rlhf/plan.h"
#include "paramkit/rlhf/realloc.h"

using namespace paramkit;
using namespace paramkit::rlhf::plan;

TEST_CASE("list scheduling: calls wait for their dependencies and for every device of their mesh") {
  Cluster c;
  c.nodes = 1;
  c.gpus_per_node = 4;
  Workload w = rlhf_workload("ppo", model_size("7b"), model_size("7b"), 64, 128, 128);
  Plan p(w.calls.size(), Assignment{{0, 4}, {4, 1, 1}});
  // reward on devices 0-1, ref on 2-3: concurrent after the generation; critic_inf on 0-3 waits for both.
  p[1] = {{0, 2}, {2, 1, 1}};
  p[2] = {{2, 2}, {2, 1, 1}};
  const Schedule s = simulate(w, c, p);
  CHECK(s.start[0] == 0);
  CHECK(s.start[1] == doctest::Approx(s.end[0]));
  CHECK(s.start[2] == doctest::Approx(s.end[0]));
  CHECK(s.start[3] == doctest::Approx(std::max(s.end[1], s.end[2])));
  CHECK(s.start[4] == doctest::Approx(s.end[3]));
  CHECK(s.start[5] == doctest::Approx(s.end[4]));  // same mesh as actor_train
  CHECK(s.makespan == doctest::Approx(s.end[5]));
  for (size_t i = 0; i < s.cost.size(); ++i) CHECK(s.end[i] - s.start[i] == doctest::Approx(s.cost[i].total()));
  // the reward model's layout differs from its (cyclic) previous one only if another call of it exists: none, so no reallocation
  CHECK(s.cost[1].realloc == 0);
  // the actor changes layout between generation and training when their strategies differ
  p[4] = {{0, 4}, {2, 2, 1}};
  const Schedule t = simulate(w, c, p);
  CHECK(t.cost[4].realloc > 0);
  CHECK(t.cost[0].realloc > 0);
}

TEST_CASE("MCMC search finds the optimum of a plan space small enough to enumerate") {
  Cluster c;
  c.nodes = 1;
  c.gpus_per_node = 2;
  c.memory = 1e15;
  Workload w = rlhf_workload("remax", model_size("7b"), model_size("7b"), 32, 64, 64);
  std::vector<std::vector<Assignment>> cand;
  for (size_t i = 0; i < w.calls.size(); ++i) cand.push_back(candidates(w, c, static_cast<int>(i)));
  Plan p(w.calls.size());
  double best = 1e300;
  int64_t plans = 0;
  std::function<void(size_t)> rec = [&](size_t i) {
    if (i == w.calls.size()) {
      best = std::min(best, simulate(w, c, p).score);
      ++plans;
      return;
    }
    for (const auto& a : cand[i]) {
      p[i] = a;
      rec(i + 1);
    }
  };
  rec(0);
  MESSAGE(plans << " plans, best " << best << " s");
  CHECK(plans > 100);
  SearchOptions o;
  o.iterations = 20000;
  const SearchResult r = search(w, c, o, 3);
  CHECK(r.schedule.score == doctest::Approx(best).epsilon(1e-12));
  CHECK(r.schedule.score <= simulate(w, c, fixed_layout(w, c)).score);
}

TEST_CASE("the DeepSpeed-Chat-like layout: ZeRO-3 training, hybrid-engine generation, slower than the searched plan at 70B on 128 GPUs") {
  Cluster c;
  c.nodes = 16;
  const Workload w = rlhf_workload("ppo", model_size("70b"), model_size("70b"), 512, 256, 256);
  const Plan d = deepspeed_chat_layout(w, c);
  CHECK(d[0].s.tp == 8);
  CHECK(!d[0].s.zero3);
  CHECK(d[4].s.zero3);
  CHECK(d[4].s.dp == 128);
  const Schedule sd = simulate(w, c, d);
  CHECK(sd.cost[4].realloc > 0);  // regathered between generation and training
  SearchOptions o;
  o.iterations = 2000;
  CHECK(search(w, c, o, 1).schedule.makespan * 2 < sd.makespan);
}

TEST_CASE("bad plans: a mesh beyond the world, a product that is not the mesh, a tensor degree that does not divide the heads") {
  Cluster c;
  c.nodes = 1;
  c.gpus_per_node = 8;
  Workload w = rlhf_workload("ppo", model_size("7b"), model_size("7b"), 64, 128, 128);
  Plan p(w.calls.size(), Assignment{{0, 8}, {8, 1, 1}});
  CHECK_NOTHROW(validate_plan(p, w, c));
  Plan q = p;
  q[2].mesh = {4, 8};
  CHECK_THROWS_AS(validate_plan(q, w, c), UsageError);
  q = p;
  q[3].s = {3, 1, 1};
  CHECK_THROWS_AS(validate_plan(q, w, c), UsageError);
  q = p;
  q[0].s = {1, 8, 1};
  CHECK_NOTHROW(validate_plan(q, w, c));
  w = rlhf_workload("ppo", ModelSize{"odd", 4, 384, 100}, ModelSize{"odd", 4, 384, 100}, 64, 8, 8);  // 3 heads
  q = p;
  q[0].s = {4, 2, 1};
  q[0].mesh = {0, 8};
  CHECK_THROWS_AS(validate_plan(q, w, c), UsageError);
  CHECK_THROWS_AS(model_size("9b"), UsageError);
  CHECK_THROWS_AS(rlhf_workload("dpo", model_size("7b"), model_size("7b"), 1, 1, 1), UsageError);
}


TEST_CASE("reallocation between every pair of layouts of 4 ranks equals the direct re-shard bit for bit") {
  using namespace paramkit::rlhf::realloc;
  const ModelLayout m = transformer_layout(3, 8, 16, 12);
  std::map<std::string, torch::Tensor> full;
  torch::manual_seed(1);
  for (const auto& t : m.tensors) full[t.name] = torch::randn(t.shape);
  std::vector<Layout> layouts;
  for (int64_t pp : {1, 2, 4})
    for (int64_t tp : {1, 2, 4})
      for (int64_t dp : {1, 2, 4})
        if (pp * tp * dp == 4 && pp <= 3) layouts.push_back({pp, tp, dp});
  REQUIRE(layouts.size() == 5);  // (1,1,4) (1,2,2) (1,4,1) (2,1,2) (2,2,1)
  std::vector<int64_t> devices = {0, 1, 2, 3};
  int64_t pairs = 0;
  for (const auto& a : layouts)
    for (const auto& b : layouts) {
      const TransferPlan plan = plan_transfer(m, a, b, devices, devices);
      const Shards moved = execute_in_process(m, a, b, plan, shard(m, a, full));
      const Shards direct = shard(m, b, full);
      for (int64_t r = 0; r < b.ranks(); ++r) {
        REQUIRE(moved[static_cast<size_t>(r)].size() == direct[static_cast<size_t>(r)].size());
        for (const auto& [name, t] : direct[static_cast<size_t>(r)]) CHECK(torch::equal(moved[static_cast<size_t>(r)].at(name), t));
      }
      if (a.pp == b.pp && a.tp == b.tp && a.dp == b.dp) CHECK(plan.local_bytes == plan.bytes);  // nothing leaves its device
      ++pairs;
    }
  CHECK(pairs == 25);
  CHECK_THROWS_AS(plan_transfer(m, {1, 3, 1}, {1, 1, 3}, {0, 1, 2}, {0, 1, 2}), UsageError);  // 3 does not divide 8
}

TEST_CASE("a causal LM's tensors: reallocation equals the direct re-shard, and each shard has the names and shapes of lm::Shard's parameters") {
  using namespace paramkit::rlhf::realloc;
  for (const bool gpt2 : {true, false}) {
    lm::LmConfig c = gpt2 ? lm::LmConfig::gpt2(40, 16, 4, 4, 32) : lm::LmConfig::llama(40, 16, 32, 4, 4, 2, 32);
    const ModelLayout m = lm_layout(c, lm::Head::lm);
    std::map<std::string, torch::Tensor> full;
    for (const auto& kv : lm::CausalLM(c, lm::Head::lm, 3)->named_parameters()) full[kv.key()] = kv.value().detach();
    REQUIRE(full.size() == m.tensors.size());
    const std::vector<Layout> ls = layouts(m, 4);
    CHECK(ls.size() == (gpt2 ? 6 : 5));  // Llama's 2 key/value heads rule out tp 4 (the layout splits whole heads)
    const std::vector<int64_t> devices = {0, 1, 2, 3};
    for (const auto& a : ls) {
      const Shards sa = shard(m, a, full);
      for (int64_t r = 0; r < a.ranks(); ++r) {  // the same names and shapes as the model shard's parameters
        const auto [b, e] = stage_layers(c.num_layers, a.pp, a.stage(r));
        lm::CausalLM part(c, lm::Head::lm, 0, false, lm::Shard{a.tp, a.tp_rank(r), b, e});
        std::map<std::string, std::vector<int64_t>> got, want;
        for (const auto& kv : part->named_parameters()) got[kv.key()] = kv.value().sizes().vec();
        for (const auto& [name, t] : sa[static_cast<size_t>(r)]) want[name] = t.sizes().vec();
        CHECK(got == want);
      }
      for (const auto& bl : ls) {
        const TransferPlan plan = plan_transfer(m, a, bl, devices, devices);
        const Shards moved = execute_in_process(m, a, bl, plan, sa), direct = shard(m, bl, full);
        for (int64_t r = 0; r < bl.ranks(); ++r)
          for (const auto& [name, t] : direct[static_cast<size_t>(r)]) CHECK(torch::equal(moved[static_cast<size_t>(r)].at(name), t));
        if (a.pp == bl.pp && a.tp == bl.tp && a.dp == bl.dp) CHECK(plan.local_bytes == plan.bytes);
      }
    }
  }
  // GPT-2's fused c_attn: tp rank 1 of 2 holds the second half of each of q, k and v
  const lm::LmConfig c = lm::LmConfig::gpt2(40, 16, 1, 4, 32);
  const ModelLayout m = lm_layout(c, lm::Head::lm);
  const torch::Tensor w = torch::arange(16 * 48, torch::kFloat).view({16, 48});
  std::map<std::string, torch::Tensor> full;
  for (const auto& t : m.tensors) full[t.name] = torch::zeros(t.shape);
  full["transformer.h.0.attn.c_attn.weight"] = w;
  const torch::Tensor s1 = shard(m, {1, 2, 1}, full)[1].at("transformer.h.0.attn.c_attn.weight");
  CHECK(torch::equal(s1, torch::cat({w.narrow(1, 8, 8), w.narrow(1, 24, 8), w.narrow(1, 40, 8)}, 1)));
}
