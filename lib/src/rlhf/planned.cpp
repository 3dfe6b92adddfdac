// ReMax under a ReaLHF execution plan: placements per call, reallocation, point-to-point data flow.
#include "paramkit/rlhf/planned.h"

#include <fmt/format.h>

#include <cmath>
#include <set>
#include <type_traits>

#include "paramkit/core/clock.h"
#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/signals.h"
#include "paramkit/data/dataset.h"
#include "paramkit/io/tensor_store.h"
#include "paramkit/nn/optim.h"
#include "paramkit/rlhf/algorithms.h"
#include "paramkit/rlhf/stages.h"
#include "paramkit/torch/state_dict.h"

namespace paramkit::rlhf {

std::vector<std::string> remax_plan_calls(bool with_ref) {
  std::vector<std::string> c = {"actor_gen", "actor_greedy_gen", "reward_inf"};
  if (with_ref) c.push_back("ref_inf");
  c.push_back("actor_train");
  return c;
}

ExecutionPlan read_execution_plan(const nlohmann::json& j0, const std::string& source) {
  const nlohmann::json& j = j0.contains("plan") && j0["plan"].is_object() ? j0["plan"] : j0;
  ExecutionPlan p;
  const std::vector<std::string> known = remax_plan_calls(true);
  if (!j.is_object() || !j.contains("calls") || !j["calls"].is_array()) throw InputError(source, "calls", "expected an array of call placements");
  for (size_t i = 0; i < j["calls"].size(); ++i) {
    const nlohmann::json& e = j["calls"][i];
    const std::string where = fmt::format("calls[{}]", i);
    try {
      const std::string name = e.at("call").get<std::string>();
      if (std::find(known.begin(), known.end(), name) == known.end())
        throw InputError(source, where + ".call", fmt::format("unknown call '{}' (ReMax: actor_gen, actor_greedy_gen, reward_inf, ref_inf, actor_train)", name));
      if (p.calls.count(name)) throw InputError(source, where + ".call", fmt::format("call '{}' placed twice", name));
      if (e.value("zero3", false)) throw InputError(source, where + ".zero3", "ZeRO-3 is simulated by `plan` only; executed plans use dp, tp and pp");
      parallel::Placement pl;
      pl.ranks = parallel::mesh(e.at("mesh").at("first").get<int64_t>(), e.at("mesh").at("size").get<int64_t>());
      pl.layout = {e.at("pp").get<int64_t>(), e.at("tp").get<int64_t>(), e.at("dp").get<int64_t>()};
      pl.micro_batches = e.value("micro_batches", int64_t{1});
      p.calls[name] = pl;
    } catch (const nlohmann::json::exception& x) {
      throw InputError(source, where, std::string("expected call, mesh {first, size}, dp, tp, pp (whole numbers): ") + x.what());
    }
  }
  return p;
}

void validate_execution_plan(const ExecutionPlan& p, int64_t world, bool with_ref, const lm::LmConfig& actor, const lm::LmConfig* reward_model,
                             int64_t batch, const std::string& source) {
  for (const auto& name : remax_plan_calls(with_ref)) {
    const auto it = p.calls.find(name);
    if (it == p.calls.end()) throw UsageError(fmt::format("{}: no placement for call {}", source, name));
    const parallel::Placement& pl = it->second;
    const std::string what = fmt::format("{}: call {}", source, name);
    if (pl.ranks.empty() || pl.ranks.front() < 0 || pl.ranks.back() >= world)
      throw UsageError(fmt::format("{}: mesh [{}, {}) is outside the {} processes", what, pl.ranks.empty() ? 0 : pl.ranks.front(),
                                   pl.ranks.empty() ? 0 : pl.ranks.back() + 1, world));
    const lm::LmConfig& c = name == "reward_inf" ? (reward_model ? *reward_model : actor) : actor;
    if (name == "reward_inf" && !reward_model && pl.layout.ranks() != static_cast<int64_t>(pl.ranks.size()))
      throw UsageError(fmt::format("{}: dp {} x tp {} x pp {} is not the mesh size {}", what, pl.layout.dp, pl.layout.tp, pl.layout.pp, pl.ranks.size()));
    if (name != "reward_inf" || reward_model) pl.validate(c, world, what);
    if (pl.layout.dp > batch) throw UsageError(fmt::format("{}: dp {} exceeds the batch of {} prompts", what, pl.layout.dp, batch));
  }
}

namespace {

bool same_placement(const parallel::Placement& a, const parallel::Placement& b) {
  return a.ranks == b.ranks && a.layout.pp == b.layout.pp && a.layout.tp == b.layout.tp && a.layout.dp == b.layout.dp;
}
bool in(const std::vector<int64_t>& v, int64_t r) { return std::find(v.begin(), v.end(), r) != v.end(); }

// The optimizer's state map key of a parameter (a string in LibTorch 1.x, the TensorImpl pointer in 2.x).
template <class Map>
typename Map::key_type state_key(const Map&, const torch::Tensor& p) {
  using K = typename Map::key_type;
  if constexpr (std::is_same_v<K, std::string>) return c10::guts::to_string(p.unsafeGetTensorImpl());
  else return static_cast<K>(p.unsafeGetTensorImpl());
}

struct Moments {
  realloc::Shards::value_type m, v;
  int64_t step = 0;
};
Moments get_moments(torch::optim::Optimizer& opt, const realloc::Shards::value_type& params) {
  Moments r;
  auto& st = opt.state();
  for (const auto& [name, p] : params) {
    const auto it = st.find(state_key(st, p));
    if (it == st.end()) {
      r.m[name] = torch::zeros_like(p).detach();
      r.v[name] = torch::zeros_like(p).detach();
      continue;
    }
    auto& s = static_cast<torch::optim::AdamWParamState&>(*it->second);
    r.m[name] = s.exp_avg();
    r.v[name] = s.exp_avg_sq();
    r.step = s.step();
  }
  return r;
}
void set_moments(torch::optim::Optimizer& opt, const realloc::Shards::value_type& params, const Moments& mo) {
  auto& st = opt.state();
  for (const auto& [name, p] : params) {
    auto s = std::make_unique<torch::optim::AdamWParamState>();
    s->step(mo.step);
    s->exp_avg(mo.m.at(name).clone());
    s->exp_avg_sq(mo.v.at(name).clone());
    st[state_key(st, p)] = std::move(s);
  }
}

// Sends a call's outputs from the first process holding them to every process of a later call that
// lacks them (tensors of any shape: a header first), and receives them where needed.
class DataFlow {
 public:
  explicit DataFlow(dist::Group& g) : g_(g) {}
  // `holders` have the tensors (their first sends); `readers` are the processes of the calls reading them.
  void publish(const std::string& key, size_t count, const std::vector<torch::Tensor>& tensors, const std::vector<int64_t>& holders,
               const std::vector<int64_t>& readers) {
    Item& it = items_[key];
    it.tag = kBaseTag + 64 * static_cast<int>(items_.size());
    it.root = holders.front();
    it.count = count;
    const bool have = in(holders, g_.rank());
    if (have) it.values = tensors;
    if (g_.rank() != it.root) return;
    for (int64_t r : std::set<int64_t>(readers.begin(), readers.end())) {
      if (in(holders, r)) continue;
      for (size_t k = 0; k < tensors.size(); ++k) {
        const torch::Tensor& t = tensors[k];
        torch::Tensor header = torch::zeros({10}, torch::kLong);
        header[0] = t.dim();
        header[1] = static_cast<int64_t>(t.scalar_type());
        for (int64_t d = 0; d < t.dim(); ++d) header[2 + d] = t.size(d);
        g_.isend(header, r, it.tag + 2 * static_cast<int>(k));
        g_.isend(t.contiguous(), r, it.tag + 2 * static_cast<int>(k) + 1);
      }
    }
  }
  // The tensors of `key` on this process (received from the root the first time).
  const std::vector<torch::Tensor>& get(const std::string& key) {
    Item& it = items_.at(key);
    if (!it.values.empty() || it.count == 0) return it.values;
    for (size_t k = 0; k < it.count; ++k) {
      torch::Tensor header = torch::zeros({10}, torch::kLong);
      g_.recv(header, it.root, it.tag + 2 * static_cast<int>(k));
      std::vector<int64_t> shape;
      for (int64_t d = 0; d < header[0].item<int64_t>(); ++d) shape.push_back(header[2 + d].item<int64_t>());
      torch::Tensor t = torch::empty(shape, torch::dtype(static_cast<c10::ScalarType>(header[1].item<int64_t>())));
      g_.recv(t, it.root, it.tag + 2 * static_cast<int>(k) + 1);
      it.values.push_back(t);
    }
    return it.values;
  }
  void finish() {
    g_.wait_sends();
    items_.clear();
  }

 private:
  static constexpr int kBaseTag = 1 << 20;
  struct Item {
    int tag = 0;
    int64_t root = 0;
    size_t count = 0;
    std::vector<torch::Tensor> values;
  };
  dist::Group& g_;
  std::map<std::string, Item> items_;
};

lm::GenerateResult as_generation(const std::vector<torch::Tensor>& t, int64_t P) {
  lm::GenerateResult g;
  g.sequences = t[0];
  g.attention_mask = t[1];
  g.response_mask = t[2];
  g.prompt_length = P;
  return g;
}

// Log-probabilities of the response tokens of rows [row0, row0 + b) from the logits of those rows.
torch::Tensor response_logp(const torch::Tensor& logits, const lm::GenerateResult& g, int64_t row0, double temperature) {
  const int64_t P = g.prompt_length, N = g.new_tokens(), b = logits.size(0);
  torch::Tensor l = logits.slice(1, P - 1, P + N - 1);
  if (temperature != 1.0) l = l / temperature;
  return torch::log_softmax(l, -1).gather(2, g.sequences.narrow(0, row0, b).slice(1, P).unsqueeze(2)).squeeze(2);
}
}  // namespace

PlannedResult train_remax_planned(dist::Group& g, const PlannedSetup& setup, const text::Tokenizer& tok, const std::vector<PromptExample>& prompts,
                                  const RlOptions& o, const ExecutionPlan& plan, uint64_t seed,
                                  const std::function<void(const nlohmann::json&)>& on_record) {
  o.validate();
  if (o.algo != Algo::remax) throw UsageError("--plan: executed plans run ReMax (--algo remax)");
  if (o.remax_token_level || o.kl_target > 0) throw UsageError("--plan: ReMax with a fixed KL coefficient only (no --remax-token-level, --kl-target)");
  const bool with_ref = o.kl_coef > 0;
  const lm::LmConfig& ac = setup.actor_config;
  const int64_t me = g.rank();
  const auto& Pgen = plan.calls.at("actor_gen");
  const auto& Pgreedy = plan.calls.at("actor_greedy_gen");
  const auto& Preward = plan.calls.at("reward_inf");
  const auto& Ptrain = plan.calls.at("actor_train");

  // The models on their placements (a generation placement equal to training's shares its shard).
  parallel::ParallelLM train(g, ac, lm::Head::lm, Ptrain);
  std::unique_ptr<parallel::ParallelLM> gen_own, greedy_own, ref, rm;
  if (!same_placement(Pgen, Ptrain)) gen_own = std::make_unique<parallel::ParallelLM>(g, ac, lm::Head::lm, Pgen);
  if (!same_placement(Pgreedy, Ptrain)) {
    if (gen_own && same_placement(Pgreedy, Pgen)) greedy_own = nullptr;
    else greedy_own = std::make_unique<parallel::ParallelLM>(g, ac, lm::Head::lm, Pgreedy);
  }
  parallel::ParallelLM& gen = gen_own ? *gen_own : train;
  parallel::ParallelLM& greedy_model = greedy_own ? *greedy_own : (same_placement(Pgreedy, Ptrain) ? train : gen);
  if (with_ref) ref = std::make_unique<parallel::ParallelLM>(g, ac, lm::Head::lm, plan.calls.at("ref_inf"));
  if (setup.reward_config) rm = std::make_unique<parallel::ParallelLM>(g, *setup.reward_config, lm::Head::score, Preward);

  std::unique_ptr<torch::optim::Optimizer> opt;
  if (train.member()) {
    nn::OptimizerOptions ao;
    ao.name = "adamw";
    ao.lr = o.lr;
    ao.weight_decay = o.weight_decay;
    std::vector<torch::Tensor> params;
    for (auto& [name, p] : train.state()) params.push_back(p);
    opt = nn::make_optimizer(ao, params);
  }
  PlannedResult res;
  int64_t start = 0;
  const CheckpointOptions& ck = o.checkpoint;
  // Rank 0 reads a checkpoint: actor, AdamW moments and step, the iteration.
  std::map<std::string, torch::Tensor> actor0 = setup.actor_full, m0, v0;
  torch::Tensor header = torch::zeros({2}, torch::kLong);  // iteration, AdamW step
  if (ck.resuming()) {
    if (me == 0) {
      const auto reader = open_tensors(ck.path);
      const auto meta = reader->metadata();
      const auto it = meta.find("paramkit.rl_plan");
      if (it == meta.end()) throw InputError(ck.path.string(), "paramkit.rl_plan", "not a checkpoint of rl --plan");
      const nlohmann::json j = nlohmann::json::parse(it->second);
      header[0] = j.at("iteration").get<int64_t>();
      header[1] = j.at("adam_step").get<int64_t>();
      for (auto& [name, t] : actor0) {
        t = read_tensor(*reader, "actor." + name);
        m0[name] = read_tensor(*reader, "exp_avg." + name);
        v0[name] = read_tensor(*reader, "exp_avg_sq." + name);
      }
    }
    g.broadcast(header, 0);
    start = header[0].item<int64_t>();
    res.resumed = true;
  }
  parallel::scatter_full(g, actor0, 0, train);
  if (res.resumed && header[1].item<int64_t>() > 0) {
    Moments mo;
    mo.m = parallel::scatter_values(g, m0, 0, train);
    mo.v = parallel::scatter_values(g, v0, 0, train);
    mo.step = header[1].item<int64_t>();
    if (opt) set_moments(*opt, train.state(), mo);
  }
  if (ref) parallel::scatter_full(g, setup.ref_full, 0, *ref);
  if (rm) parallel::scatter_full(g, setup.reward_full, 0, *rm);
  if (res.resumed && me == 0) log::info("resumed from {} at iteration {}", ck.path.string(), start);

  auto save = [&](int64_t next) {
    std::map<std::string, torch::Tensor> full = parallel::gather_full(g, train, 0), fm, fv;
    Moments mo;
    if (opt) mo = get_moments(*opt, train.state());
    fm = parallel::gather_full(g, train, 0, &mo.m);
    fv = parallel::gather_full(g, train, 0, &mo.v);
    torch::Tensor step = torch::tensor({train.layout_rank() == 0 ? mo.step : 0}, torch::kLong);
    g.all_reduce(step);
    if (me != 0) return;
    std::vector<std::pair<std::string, torch::Tensor>> ts;
    for (const auto& [name, t] : full) ts.emplace_back("actor." + name, t);
    for (const auto& [name, t] : fm) ts.emplace_back("exp_avg." + name, t);
    for (const auto& [name, t] : fv) ts.emplace_back("exp_avg_sq." + name, t);
    const nlohmann::json j = {{"iteration", next}, {"adam_step", step.item<int64_t>()}, {"algo", "remax"}, {"kl_coef", o.kl_coef}};
    save_tensors(ck.path, ts, {{"paramkit.rl_plan", j.dump()}});
  };

  const lm::GenerateOptions gopt = with_eos(o.gen, tok, ac);
  const int64_t pad = lm::pad_id(ac, gopt);
  BatchIterator order(static_cast<int64_t>(prompts.size()), o.batch_prompts, /*shuffle=*/true, seed);
  const int64_t per_epoch = order.batches_per_epoch();
  const std::vector<std::string> calls = remax_plan_calls(with_ref);
  const int64_t stop_at = ck.stop_after > 0 ? std::min(o.iterations, start + ck.stop_after) : o.iterations;
  DataFlow flow(g);
  int64_t it = start;
  for (; it < stop_at; ++it) {
    check_stop();
    std::vector<const PromptExample*> batch;
    for (int64_t i : order.batch(it / per_epoch, it % per_epoch)) batch.push_back(&prompts[static_cast<size_t>(i)]);
    std::vector<std::vector<int64_t>> ids;
    for (const auto* p : batch) ids.push_back(prompt_ids(tok, p->prompt, o.max_prompt_tokens));
    const auto [pids, pmask] = lm::left_pad(ids, pad);
    const int64_t B = pids.size(0), P = pids.size(1);
    std::map<std::string, std::pair<double, double>> span;  // this process's, per call
    int64_t moved = 0;
    double loss = NAN, grad_norm = NAN, reward_mean = NAN, greedy_mean = NAN;
    g.barrier();
    const double t0 = monotonic_seconds();
    auto begin = [&](const std::string& c) { span[c].first = monotonic_seconds() - t0; };
    auto end = [&](const std::string& c) { span[c].second = monotonic_seconds() - t0; };
    std::vector<int64_t> reads_samples = Preward.ranks, reads_scores = Ptrain.ranks;
    reads_samples.insert(reads_samples.end(), Ptrain.ranks.begin(), Ptrain.ranks.end());
    if (ref) reads_samples.insert(reads_samples.end(), ref->placement().ranks.begin(), ref->placement().ranks.end());

    // actor_gen / actor_greedy_gen: the training weights reallocated to each generation layout, both
    // reallocations first (so that neither generation waits for the other's weights), then the two.
    auto reallocate_for = [&](const std::string& call, parallel::ParallelLM& model, bool skip) {
      if (&model == &train || skip) return;  // the weights are in place: the call's span starts with its generation
      if (model.member()) begin(call);
      if (model.member() || train.member()) moved += parallel::reallocate(g, train, model);
    };
    auto generate = [&](const std::string& call, parallel::ParallelLM& model, bool greedy_decode, const std::string& key,
                        const std::vector<int64_t>& readers) {
      const bool mine = model.member();
      lm::GenerateResult r;
      if (mine) {
        if (!span.count(call)) begin(call);
        lm::GenerateOptions go = gopt;
        go.greedy = greedy_decode;
        go.logprobs = false;
        go.seed = seed * 1000003ULL + static_cast<uint64_t>(it) * 2 + (greedy_decode ? 1 : 0);
        r = model.generate(pids, pmask, go);
        end(call);
      }
      flow.publish(key, 3, mine ? std::vector<torch::Tensor>{r.sequences, r.attention_mask, r.response_mask} : std::vector<torch::Tensor>{},
                   model.placement().ranks, readers);
    };
    reallocate_for("actor_gen", gen, false);
    reallocate_for("actor_greedy_gen", greedy_model, &greedy_model == &gen);  // sharing gen's placement: already there
    generate("actor_gen", gen, false, "samples", reads_samples);
    generate("actor_greedy_gen", greedy_model, true, "greedy", Preward.ranks);

    // reward_inf: a reward model split by the plan, or a rule/command on the call's first process.
    {
      const bool mine = in(Preward.ranks, me);
      torch::Tensor scores, greedy_scores;
      if (mine) {
        begin("reward_inf");
        const Rollout s = decode_rollout(as_generation(flow.get("samples"), P), tok, gopt.eos_ids);
        const Rollout gr = decode_rollout(as_generation(flow.get("greedy"), P), tok, gopt.eos_ids);
        auto score = [&](const Rollout& r) -> torch::Tensor {
          if (rm) {
            std::vector<std::string> ps, rs;
            for (size_t i = 0; i < batch.size(); ++i) {
              ps.push_back(batch[i]->prompt);
              rs.push_back(r.texts[i]);
            }
            const auto values = [&](const torch::Tensor& x, const torch::Tensor& mk) {
              return rm->map_rows(x, mk, [](const torch::Tensor& out, int64_t) { return out; });
            };
            return torch::tensor(score_texts(values, *setup.reward_tokenizer, ps, rs, 16, setup.reward_config->max_positions), torch::kFloat64)
                .to(torch::kFloat32);
          }
          if (me != Preward.ranks.front()) return {};
          return torch::tensor(score_responses(*setup.reward, batch, r.texts), torch::kFloat64).to(torch::kFloat32);
        };
        scores = score(s);
        greedy_scores = score(gr);
        end("reward_inf");
      }
      const std::vector<int64_t> holders = rm ? Preward.ranks : std::vector<int64_t>{Preward.ranks.front()};
      std::vector<int64_t> readers = Ptrain.ranks;
      readers.push_back(0);  // the iteration's record
      flow.publish("scores", 2, in(holders, me) ? std::vector<torch::Tensor>{scores, greedy_scores} : std::vector<torch::Tensor>{}, holders, readers);
    }

    // ref_inf: log-probabilities of the sampled responses under the reference model.
    if (ref) {
      if (ref->member()) {
        begin("ref_inf");
        const lm::GenerateResult s = as_generation(flow.get("samples"), P);
        const torch::Tensor mask = s.response_mask.to(torch::kFloat32);
        const torch::Tensor lp = ref->map_rows(s.sequences, s.attention_mask, [&](const torch::Tensor& out, int64_t row0) {
          return response_logp(out, s, row0, gopt.temperature) * mask.narrow(0, row0, out.size(0));
        });
        end("ref_inf");
        flow.publish("ref_logp", 1, {lp}, ref->placement().ranks, Ptrain.ranks);
      } else {
        flow.publish("ref_logp", 1, {}, ref->placement().ranks, Ptrain.ranks);
      }
    }

    // actor_train: ReMax's loss, each row's share, through the training layout.
    if (train.member()) {
      begin("actor_train");
      const lm::GenerateResult s = as_generation(flow.get("samples"), P);
      const auto& sc = flow.get("scores");
      const torch::Tensor ref_logp = ref ? flow.get("ref_logp")[0] : torch::Tensor();
      const torch::Tensor mask = s.response_mask.to(torch::kFloat32);
      const double tokens = mask.sum().item<double>();
      opt->zero_grad();
      loss = train.backward(s.sequences, s.attention_mask, [&](const torch::Tensor& out, int64_t row0) {
        const int64_t b = out.size(0);
        const torch::Tensor lp = response_logp(out, s, row0, gopt.temperature);
        const torch::Tensor mk = mask.narrow(0, row0, b);
        torch::Tensor l = remax_loss(lp, mk, sc[0].narrow(0, row0, b), sc[1].narrow(0, row0, b)) * (static_cast<double>(b) / static_cast<double>(B));
        if (ref) l = l + o.kl_coef * masked_sum(kl_estimate(lp, ref_logp.narrow(0, row0, b), o.kl_estimator), mk) / tokens;
        return l;
      });
      grad_norm = train.clip_grad_norm(o.grad_clip);
      opt->step();
      end("actor_train");
    }
    if (me == 0) {
      const auto& sc = flow.get("scores");
      reward_mean = sc[0].to(torch::kFloat64).mean().item<double>();
      greedy_mean = sc[1].to(torch::kFloat64).mean().item<double>();
    }
    flow.finish();
    // The iteration's record: every process's spans and numbers, gathered.
    std::vector<double> row;
    for (const auto& c : calls) {
      const auto f = span.find(c);
      row.push_back(f == span.end() ? NAN : f->second.first);
      row.push_back(f == span.end() ? NAN : f->second.second);
    }
    row.insert(row.end(), {loss, grad_norm, reward_mean, greedy_mean, static_cast<double>(moved)});
    std::vector<torch::Tensor> all;
    g.all_gather(torch::tensor(row, torch::kFloat64), all);
    const torch::Tensor a = torch::stack(all);  // [world, k]
    auto first_finite = [&](int64_t col) -> double {
      for (int64_t r = 0; r < a.size(0); ++r)
        if (std::isfinite(a[r][col].item<double>())) return a[r][col].item<double>();
      return NAN;
    };
    nlohmann::json seconds = nlohmann::json::object();
    for (size_t k = 0; k < calls.size(); ++k) {
      const torch::Tensor s0 = a.select(1, static_cast<int64_t>(2 * k)), s1 = a.select(1, static_cast<int64_t>(2 * k + 1));
      const double st = torch::nan_to_num(s0, 1e300).min().item<double>(), en = torch::nan_to_num(s1, -1e300).max().item<double>();
      res.spans[calls[k]].push_back({st, en});
      seconds[calls[k]] = en - st;
    }
    const int64_t base = static_cast<int64_t>(2 * calls.size());
    const double moved_all = a.select(1, base + 4).sum().item<double>();
    nlohmann::json rec = {{"iteration", it + 1},
                          {"reward_mean", first_finite(base + 2)},
                          {"greedy_reward_mean", first_finite(base + 3)},
                          {"loss", first_finite(base)},
                          {"grad_norm", first_finite(base + 1)},
                          {"realloc_bytes", moved_all},
                          {"seconds", seconds}};
    res.history.push_back(rec);
    if (on_record) on_record(rec);
    if (ck.every > 0 && !ck.path.empty() && (it + 1) % ck.every == 0 && it + 1 < stop_at) save(it + 1);
    if (const char* die = std::getenv("PARAMKIT_TEST_DIE_RANK"); die && std::atoll(die) == me && it + 1 == start + 2)
      std::abort();  // tests: a process killed after two iterations of this run
  }
  res.iterations = it;
  res.finished = it >= o.iterations;
  if (!ck.path.empty()) save(it);
  res.actor_final = parallel::gather_full(g, train, 0);
  return res;
}

}  // namespace paramkit::rlhf
