// ReMax under a ReaLHF execution plan: placements per call, reallocation, point-to-point data flow.
#include "paramkit/rlhf/planned.h"

#include <fmt/format.h>

#include <cmath>
#include <set>
#include <sstream>
#include <type_traits>

#include "paramkit/core/clock.h"
#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/rng.h"
#include "paramkit/core/signals.h"
#include "paramkit/data/dataset.h"
#include "paramkit/io/tensor_store.h"
#include "paramkit/nn/optim.h"
#include "paramkit/rlhf/algorithms.h"
#include "paramkit/rlhf/stages.h"
#include "paramkit/torch/state_dict.h"

namespace paramkit::rlhf {

std::vector<std::string> plan_calls(Algo algo, bool with_ref) {
  std::vector<std::string> c = {"actor_gen"};
  if (algo == Algo::remax) c.push_back("actor_greedy_gen");
  c.push_back("reward_inf");
  if (with_ref) c.push_back("ref_inf");
  if (algo == Algo::ppo) c.push_back("critic_inf");
  c.push_back("actor_train");  // GRPO, RLOO: actor_gen, reward_inf, [ref_inf], actor_train
  if (algo == Algo::ppo) c.push_back("critic_train");
  return c;
}

ExecutionPlan read_execution_plan(const nlohmann::json& j0, const std::string& source) {
  const nlohmann::json& j = j0.contains("plan") && j0["plan"].is_object() ? j0["plan"] : j0;
  ExecutionPlan p;
  std::vector<std::string> known = plan_calls(Algo::remax, true);
  for (const auto& c : plan_calls(Algo::ppo, true))
    if (std::find(known.begin(), known.end(), c) == known.end()) known.push_back(c);
  if (!j.is_object() || !j.contains("calls") || !j["calls"].is_array()) throw InputError(source, "calls", "expected an array of call placements");
  for (size_t i = 0; i < j["calls"].size(); ++i) {
    const nlohmann::json& e = j["calls"][i];
    const std::string where = fmt::format("calls[{}]", i);
    try {
      const std::string name = e.at("call").get<std::string>();
      if (std::find(known.begin(), known.end(), name) == known.end())
        throw InputError(source, where + ".call", fmt::format("unknown call '{}' (ReMax: actor_gen, actor_greedy_gen, reward_inf, ref_inf, actor_train; "
                                                             "PPO: actor_gen, reward_inf, ref_inf, critic_inf, actor_train, critic_train)", name));
      if (p.calls.count(name)) throw InputError(source, where + ".call", fmt::format("call '{}' placed twice", name));
      if (e.value("zero3", false)) throw InputError(source, where + ".zero3", "ZeRO-3 is simulated by `plan` only; executed plans use dp, tp and pp");
      // whole numbers in range, checked before anything is sized by them
      auto whole = [&](const nlohmann::json& v, const std::string& field, int64_t lo, int64_t hi) {
        if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > hi)
          throw InputError(source, where + "." + field, fmt::format("expected a whole number in [{}, {}], got {}", lo, hi, v.dump()));
        return v.get<int64_t>();
      };
      const nlohmann::json& m = e.at("mesh");
      parallel::Placement pl;
      pl.ranks = parallel::mesh(whole(m.at("first"), "mesh.first", 0, 65535), whole(m.at("size"), "mesh.size", 1, 65536));
      pl.layout = {whole(e.at("pp"), "pp", 1, 65536), whole(e.at("tp"), "tp", 1, 65536), whole(e.at("dp"), "dp", 1, 65536)};
      pl.micro_batches = e.contains("micro_batches") ? whole(e["micro_batches"], "micro_batches", 1, int64_t{1} << 20) : 1;
      p.calls[name] = pl;
    } catch (const nlohmann::json::exception& x) {
      throw InputError(source, where, std::string("expected call, mesh {first, size}, dp, tp, pp (whole numbers): ") + x.what());
    }
  }
  return p;
}

void validate_execution_plan(const ExecutionPlan& p, int64_t world, const RlOptions& o, const lm::LmConfig& actor,
                             const lm::LmConfig* reward_model, const std::string& source) {
  const bool grouped = o.algo == Algo::grpo || o.algo == Algo::rloo;
  const int64_t batch = o.batch_prompts * (grouped ? o.group_size : 1);  // rows
  for (const auto& name : plan_calls(o.algo, o.kl_coef > 0)) {
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
    if (pl.layout.dp > batch) throw UsageError(fmt::format("{}: dp {} exceeds the batch of {} rows", what, pl.layout.dp, batch));
    const int64_t smallest = batch / o.minibatches;  // PPO's, GRPO's, RLOO's smallest minibatch
    if (o.algo != Algo::remax && (name == "actor_train" || name == "critic_train") && pl.layout.dp > smallest)
      throw UsageError(fmt::format("{}: dp {} exceeds the {} rows of a minibatch (--batch-prompts / --minibatches)", what, pl.layout.dp, smallest));
  }
}

namespace {

bool same_placement(const parallel::Placement& a, const parallel::Placement& b) {
  return a.ranks == b.ranks && a.layout.pp == b.layout.pp && a.layout.tp == b.layout.tp && a.layout.dp == b.layout.dp &&
         a.micro_batches == b.micro_batches;
}
bool in(const std::vector<int64_t>& v, int64_t r) { return std::find(v.begin(), v.end(), r) != v.end(); }

// The optimizer's state map key of a parameter (a string in LibTorch 1.x, the TensorImpl pointer in 2.x).
template <class Map>
typename Map::key_type state_key(const Map&, const torch::Tensor& p) {
  using K = typename Map::key_type;
  if constexpr (std::is_same_v<K, std::string>) {  // what c10::guts::to_string writes: the pointer through a stream
    std::ostringstream os;
    os << static_cast<const void*>(p.unsafeGetTensorImpl());
    return os.str();
  } else {
    return static_cast<K>(p.unsafeGetTensorImpl());
  }
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

namespace {
// A model of the iteration: its copy in its training placement (with the optimizer, on its members) or,
// for a model that is not trained, in its one call's placement; and the copies placed for its other
// calls (calls with the same placement share one), reallocated from the training copy once per iteration.
struct PlacedModel {
  std::unique_ptr<parallel::ParallelLM> home;
  std::vector<std::unique_ptr<parallel::ParallelLM>> copies;
  std::map<std::string, parallel::ParallelLM*> at;
  std::unique_ptr<torch::optim::Optimizer> opt;
  std::set<parallel::ParallelLM*> fresh;  // copies already reallocated this iteration

  PlacedModel(dist::Group& g, const lm::LmConfig& c, lm::Head head, const ExecutionPlan& plan, const std::string& home_call,
              const std::vector<std::string>& other_calls, double lr, double weight_decay) {
    home = std::make_unique<parallel::ParallelLM>(g, c, head, plan.calls.at(home_call));
    at[home_call] = home.get();
    for (const auto& call : other_calls) {
      const parallel::Placement& p = plan.calls.at(call);
      parallel::ParallelLM* x = same_placement(p, home->placement()) ? home.get() : nullptr;
      for (const auto& y : copies)
        if (!x && same_placement(p, y->placement())) x = y.get();
      if (!x) {
        copies.push_back(std::make_unique<parallel::ParallelLM>(g, c, head, p));
        x = copies.back().get();
      }
      at[call] = x;
    }
    if (lr > 0 && home->member()) {
      nn::OptimizerOptions ao;
      ao.name = "adamw";
      ao.lr = lr;
      ao.weight_decay = weight_decay;
      std::vector<torch::Tensor> params;
      for (auto& [name, p] : home->state()) params.push_back(p);
      opt = nn::make_optimizer(ao, params);
    }
  }
};
}  // namespace

PlannedResult train_planned(dist::Group& g, const PlannedSetup& setup, const text::Tokenizer& tok, const std::vector<PromptExample>& prompts,
                            const RlOptions& o, const ExecutionPlan& plan, uint64_t seed, const std::function<void(const nlohmann::json&)>& on_record) {
  o.validate();
  const bool remax = o.algo == Algo::remax, ppo = o.algo == Algo::ppo, grouped = o.algo == Algo::grpo || o.algo == Algo::rloo;
  if (o.remax_token_level || o.kl_target > 0) throw UsageError("--plan: a fixed KL coefficient only (no --remax-token-level, --kl-target)");
  const bool with_ref = o.kl_coef > 0;
  const lm::LmConfig& ac = setup.actor_config;
  const int64_t me = g.rank();
  auto ranks = [&](const std::string& call) -> const std::vector<int64_t>& { return plan.calls.at(call).ranks; };
  auto join = [](std::initializer_list<const std::vector<int64_t>*> v) {
    std::vector<int64_t> r;
    for (const auto* x : v) r.insert(r.end(), x->begin(), x->end());
    return r;
  };

  // The models on their placements, built in the same order on every process (their groups are collective).
  PlacedModel actor(g, ac, lm::Head::lm, plan, "actor_train", remax ? std::vector<std::string>{"actor_gen", "actor_greedy_gen"}
                                                                      : std::vector<std::string>{"actor_gen"},
                    o.lr, o.weight_decay);
  std::unique_ptr<PlacedModel> critic, ref, rm;
  if (ppo) critic = std::make_unique<PlacedModel>(g, ac, lm::Head::score, plan, "critic_train", std::vector<std::string>{"critic_inf"}, o.critic_lr,
                                                  o.weight_decay);
  if (with_ref) ref = std::make_unique<PlacedModel>(g, ac, lm::Head::lm, plan, "ref_inf", std::vector<std::string>{}, 0, 0);
  if (setup.reward_config) rm = std::make_unique<PlacedModel>(g, *setup.reward_config, lm::Head::score, plan, "reward_inf", std::vector<std::string>{}, 0, 0);
  std::vector<std::pair<std::string, PlacedModel*>> trained = {{"actor", &actor}};
  if (critic) trained.push_back({"critic", critic.get()});

  PlannedResult res;
  int64_t start = 0;
  const CheckpointOptions& ck = o.checkpoint;
  // Rank 0 reads a checkpoint: each trained model, its AdamW moments and step; the iteration.
  std::map<std::string, std::map<std::string, torch::Tensor>> full0 = {{"actor", setup.actor_full}, {"critic", setup.critic_full}}, m0, v0;
  torch::Tensor header = torch::zeros({3}, torch::kLong);  // iteration, actor's and critic's AdamW steps
  if (ck.resuming()) {
    if (me == 0) {
      const auto reader = open_tensors(ck.path);
      const auto meta = reader->metadata();
      const auto it = meta.find("paramkit.rl_plan");
      if (it == meta.end()) throw InputError(ck.path.string(), "paramkit.rl_plan", "not a checkpoint of rl --plan");
      const nlohmann::json j = nlohmann::json::parse(it->second);
      if (j.value("algo", std::string()) != algo_name(o.algo))
        throw UsageError(fmt::format("{}: the checkpoint is of --algo {}, not {}", ck.path.string(), j.value("algo", std::string("?")), algo_name(o.algo)));
      header[0] = j.at("iteration").get<int64_t>();
      header[1] = j.at("actor_adam_step").get<int64_t>();
      header[2] = j.value("critic_adam_step", int64_t{0});
      for (const auto& [prefix, model] : trained)
        for (auto& [name, t] : full0[prefix]) {
          t = read_tensor(*reader, prefix + "." + name);
          m0[prefix][name] = read_tensor(*reader, prefix + "_exp_avg." + name);
          v0[prefix][name] = read_tensor(*reader, prefix + "_exp_avg_sq." + name);
        }
    }
    g.broadcast(header, 0);
    start = header[0].item<int64_t>();
    res.resumed = true;
  }
  for (size_t k = 0; k < trained.size(); ++k) {
    auto& [prefix, model] = trained[k];
    parallel::scatter_full(g, full0[prefix], 0, *model->home);
    const int64_t step = header[static_cast<int64_t>(k) + 1].item<int64_t>();
    if (res.resumed && step > 0) {
      Moments mo;
      mo.m = parallel::scatter_values(g, m0[prefix], 0, *model->home);
      mo.v = parallel::scatter_values(g, v0[prefix], 0, *model->home);
      mo.step = step;
      if (model->opt) set_moments(*model->opt, model->home->state(), mo);
    }
  }
  if (ref) parallel::scatter_full(g, setup.ref_full, 0, *ref->home);
  if (rm) parallel::scatter_full(g, setup.reward_full, 0, *rm->home);
  if (res.resumed && me == 0) log::info("resumed from {} at iteration {}", ck.path.string(), start);

  auto save = [&](int64_t next) {
    std::vector<std::pair<std::string, torch::Tensor>> ts;
    nlohmann::json j = {{"iteration", next}, {"algo", algo_name(o.algo)}, {"kl_coef", o.kl_coef}};
    for (const auto& [prefix, model] : trained) {
      Moments mo;
      if (model->opt) mo = get_moments(*model->opt, model->home->state());
      const auto full = parallel::gather_full(g, *model->home, 0), fm = parallel::gather_full(g, *model->home, 0, &mo.m),
                 fv = parallel::gather_full(g, *model->home, 0, &mo.v);
      torch::Tensor step = torch::tensor({model->home->layout_rank() == 0 ? mo.step : 0}, torch::kLong);
      g.all_reduce(step);
      j[prefix + "_adam_step"] = step.item<int64_t>();
      for (const auto& [name, t] : full) ts.emplace_back(prefix + "." + name, t);
      for (const auto& [name, t] : fm) ts.emplace_back(prefix + "_exp_avg." + name, t);
      for (const auto& [name, t] : fv) ts.emplace_back(prefix + "_exp_avg_sq." + name, t);
    }
    if (me == 0) save_tensors(ck.path, ts, {{"paramkit.rl_plan", j.dump()}});
  };

  const lm::GenerateOptions gopt = with_eos(o.gen, tok, ac);
  const int64_t pad = lm::pad_id(ac, gopt);
  BatchIterator order(static_cast<int64_t>(prompts.size()), o.batch_prompts, /*shuffle=*/true, seed);
  const int64_t per_epoch = order.batches_per_epoch();
  const std::vector<std::string> calls = plan_calls(o.algo, with_ref);
  const int64_t stop_at = ck.stop_after > 0 ? std::min(o.iterations, start + ck.stop_after) : o.iterations;
  const std::vector<int64_t> none;
  DataFlow flow(g);
  int64_t it = start;
  for (; it < stop_at; ++it) {
    check_stop();
    std::vector<const PromptExample*> batch;
    for (int64_t i : order.batch(it / per_epoch, it % per_epoch))
      for (int64_t k = 0; k < (grouped ? o.group_size : 1); ++k) batch.push_back(&prompts[static_cast<size_t>(i)]);
    std::vector<std::vector<int64_t>> ids;
    for (const auto* p : batch) ids.push_back(prompt_ids(tok, p->prompt, o.max_prompt_tokens));
    const auto [pids, pmask] = lm::left_pad(ids, pad);
    const int64_t B = pids.size(0), P = pids.size(1);
    std::map<std::string, std::pair<double, double>> span;  // this process's, per call
    int64_t moved = 0;
    double loss = NAN, grad_norm = NAN, reward_mean = NAN, greedy_mean = NAN, value_loss_mean = NAN;
    for (auto& [prefix, model] : trained) model->fresh.clear();
    g.barrier();
    const double t0 = monotonic_seconds();
    auto begin = [&](const std::string& c) {
      if (!span.count(c)) span[c].first = monotonic_seconds() - t0;
    };
    auto end = [&](const std::string& c) { span[c].second = monotonic_seconds() - t0; };
    // A call's copy of a trained model gets this iteration's weights (its span starts there).
    auto prepare = [&](PlacedModel& m, const std::string& call) {
      parallel::ParallelLM* x = m.at.at(call);
      if (x == m.home.get() || m.fresh.count(x)) return;
      m.fresh.insert(x);
      if (x->member()) begin(call);
      if (x->member() || m.home->member()) {
        const int64_t bytes = parallel::reallocate(g, *m.home, *x);
        if (me == m.home->placement().ranks.front()) moved += bytes;  // counted once (the gathered record sums the processes)
      }
    };
    const std::vector<int64_t> trainers = ppo ? join({&ranks("actor_train"), &ranks("critic_train")}) : ranks("actor_train");
    std::vector<int64_t> reads_samples = join({&ranks("reward_inf"), &trainers});
    if (ref) reads_samples = join({&reads_samples, &ranks("ref_inf")});
    if (ppo) reads_samples = join({&reads_samples, &ranks("critic_inf")});

    // actor_gen (and ReMax's actor_greedy_gen): both reallocations first, so that neither generation waits
    // for the other's weights; PPO's old log-probabilities right after generating, on the same placement.
    auto generate = [&](const std::string& call, bool greedy_decode, const std::string& key, const std::vector<int64_t>& readers) {
      parallel::ParallelLM& model = *actor.at.at(call);
      const bool mine = model.member();
      lm::GenerateResult r;
      torch::Tensor old_logp;
      if (mine) {
        begin(call);
        lm::GenerateOptions go = gopt;
        go.greedy = greedy_decode;
        go.logprobs = false;
        go.seed = seed * 1000003ULL + static_cast<uint64_t>(it) * 2 + (greedy_decode ? 1 : 0);
        r = model.generate(pids, pmask, go);
        if (!remax) {
          const torch::Tensor mask = r.response_mask.to(torch::kFloat32);
          old_logp = model.map_rows(r.sequences, r.attention_mask, [&](const torch::Tensor& out, int64_t row0) {
            return response_logp(out, r, row0, gopt.temperature) * mask.narrow(0, row0, out.size(0));
          });
        }
        end(call);
      }
      flow.publish(key, 3, mine ? std::vector<torch::Tensor>{r.sequences, r.attention_mask, r.response_mask} : std::vector<torch::Tensor>{},
                   model.placement().ranks, readers);
      if (!remax) flow.publish("old_logp", 1, mine ? std::vector<torch::Tensor>{old_logp} : std::vector<torch::Tensor>{}, model.placement().ranks, trainers);
    };
    prepare(actor, "actor_gen");
    if (remax) prepare(actor, "actor_greedy_gen");
    generate("actor_gen", false, "samples", reads_samples);
    if (remax) generate("actor_greedy_gen", true, "greedy", ranks("reward_inf"));

    // reward_inf: a reward model split by the plan, or a rule/command on the call's first process.
    {
      const auto& Pr = ranks("reward_inf");
      const bool mine = in(Pr, me);
      torch::Tensor scores, greedy_scores;
      if (mine) {
        begin("reward_inf");
        auto score = [&](const Rollout& r) -> torch::Tensor {
          if (rm) {
            std::vector<std::string> ps, rs;
            for (size_t i = 0; i < batch.size(); ++i) {
              ps.push_back(batch[i]->prompt);
              rs.push_back(r.texts[i]);
            }
            const auto values = [&](const torch::Tensor& x, const torch::Tensor& mk) {
              return rm->home->map_rows(x, mk, [](const torch::Tensor& out, int64_t) { return out; });
            };
            // one chunk: map_rows splits it over the replicas and micro-batches (chunks smaller than dp would not split)
            return torch::tensor(score_texts(values, *setup.reward_tokenizer, ps, rs, static_cast<int64_t>(ps.size()), setup.reward_config->max_positions),
                                 torch::kFloat64)
                .to(torch::kFloat32);
          }
          if (me != Pr.front()) return {};
          return torch::tensor(score_responses(*setup.reward, batch, r.texts), torch::kFloat64).to(torch::kFloat32);
        };
        scores = score(decode_rollout(as_generation(flow.get("samples"), P), tok, gopt.eos_ids));
        if (remax) greedy_scores = score(decode_rollout(as_generation(flow.get("greedy"), P), tok, gopt.eos_ids));
        end("reward_inf");
      }
      const std::vector<int64_t> holders = rm ? Pr : std::vector<int64_t>{Pr.front()};
      std::vector<int64_t> readers = trainers;
      readers.push_back(0);  // the iteration's record
      std::vector<torch::Tensor> out;
      if (in(holders, me)) out = remax ? std::vector<torch::Tensor>{scores, greedy_scores} : std::vector<torch::Tensor>{scores};
      flow.publish("scores", remax ? 2 : 1, out, holders, readers);
    }

    // ref_inf: log-probabilities of the sampled responses under the reference model.
    if (ref) {
      parallel::ParallelLM& x = *ref->home;
      torch::Tensor lp;
      if (x.member()) {
        begin("ref_inf");
        const lm::GenerateResult s = as_generation(flow.get("samples"), P);
        const torch::Tensor mask = s.response_mask.to(torch::kFloat32);
        lp = x.map_rows(s.sequences, s.attention_mask, [&](const torch::Tensor& out, int64_t row0) {
          return response_logp(out, s, row0, gopt.temperature) * mask.narrow(0, row0, out.size(0));
        });
        end("ref_inf");
      }
      flow.publish("ref_logp", 1, x.member() ? std::vector<torch::Tensor>{lp} : std::vector<torch::Tensor>{}, x.placement().ranks, trainers);
    }

    // critic_inf (PPO): values of the response positions.
    if (ppo) {
      prepare(*critic, "critic_inf");
      parallel::ParallelLM& x = *critic->at.at("critic_inf");
      torch::Tensor v;
      if (x.member()) {
        begin("critic_inf");
        const lm::GenerateResult s = as_generation(flow.get("samples"), P);
        const torch::Tensor mask = s.response_mask.to(torch::kFloat32);
        const int64_t N = s.new_tokens();
        v = x.map_rows(s.sequences, s.attention_mask, [&](const torch::Tensor& out, int64_t row0) {
          return out.slice(1, P - 1, P + N - 1) * mask.narrow(0, row0, out.size(0));
        });
        end("critic_inf");
      }
      flow.publish("old_values", 1, x.member() ? std::vector<torch::Tensor>{v} : std::vector<torch::Tensor>{}, x.placement().ranks, trainers);
    }

    // The advantages (and PPO's returns), computed alike by every process of the training calls.
    struct Targets {
      lm::GenerateResult s;
      torch::Tensor mask, old_logp, ref_logp, old_values, adv, returns;
    };
    auto ppo_targets = [&]() {
      Targets t;
      t.s = as_generation(flow.get("samples"), P);
      const Rollout r = decode_rollout(t.s, tok, gopt.eos_ids);
      t.mask = r.mask;
      t.old_logp = flow.get("old_logp")[0];
      if (ref) t.ref_logp = flow.get("ref_logp")[0];
      if (grouped) {
        const torch::Tensor sc = flow.get("scores")[0];
        t.adv = (o.algo == Algo::grpo ? grpo_advantages(sc, o.group_size) : rloo_advantages(sc, o.group_size)).unsqueeze(1) * t.mask;
        return t;
      }
      t.old_values = flow.get("old_values")[0];
      const torch::Tensor kl = ref && o.kl_in_reward ? kl_estimate(t.old_logp, t.ref_logp, o.kl_estimator) : torch::zeros_like(t.mask);
      const torch::Tensor rewards = ppo_token_rewards(flow.get("scores")[0], kl, t.mask, o.kl_coef, o.reward_clip, r.ended);
      const torch::Tensor len = t.mask.sum(1).to(torch::kLong);
      const torch::Tensor last_v = t.old_values.gather(1, (len - 1).clamp_min(0).unsqueeze(1)).squeeze(1);
      const torch::Tensor boot = torch::where(r.ended, torch::zeros_like(last_v), last_v);
      const Gae ga = gae(rewards, t.old_values, t.mask, o.gae_gamma, o.gae_lambda, boot);
      t.adv = o.whiten_advantages ? masked_whiten(ga.advantages, t.mask) : ga.advantages;
      t.returns = ga.returns;
      return t;
    };
    // epochs x minibatches of rows as the single-process loop draws them: f(rows)
    auto minibatches = [&](uint64_t stream, const std::function<void(const torch::Tensor&)>& f) {
      Rng rng(seed, stream);
      for (int64_t e = 0; e < o.epochs; ++e) {
        const std::vector<int64_t> perm = permutation(B, rng);
        for (int64_t m = 0; m < o.minibatches; ++m) {
          check_stop();
          const int64_t lo = m * B / o.minibatches, hi = (m + 1) * B / o.minibatches;
          f(torch::tensor(std::vector<int64_t>(perm.begin() + lo, perm.begin() + hi), torch::kInt64));
        }
      }
    };
    auto rows_of = [](const lm::GenerateResult& s, const torch::Tensor& rows) {
      lm::GenerateResult sub = s;
      sub.sequences = s.sequences.index_select(0, rows);
      sub.attention_mask = s.attention_mask.index_select(0, rows);
      sub.response_mask = s.response_mask.index_select(0, rows);
      return sub;
    };

    // actor_train: ReMax's loss, or PPO's clipped objective per minibatch; each row's share of it.
    parallel::ParallelLM& train = *actor.home;
    if (train.member()) {
      begin("actor_train");
      if (remax) {
        const lm::GenerateResult s = as_generation(flow.get("samples"), P);
        const auto& sc = flow.get("scores");
        const torch::Tensor ref_logp = ref ? flow.get("ref_logp")[0] : torch::Tensor();
        const torch::Tensor mask = s.response_mask.to(torch::kFloat32);
        const double tokens = mask.sum().item<double>();
        actor.opt->zero_grad();
        loss = train.backward(s.sequences, s.attention_mask, [&](const torch::Tensor& out, int64_t row0) {
          const int64_t b = out.size(0);
          const torch::Tensor lp = response_logp(out, s, row0, gopt.temperature);
          const torch::Tensor mk = mask.narrow(0, row0, b);
          torch::Tensor l = remax_loss(lp, mk, sc[0].narrow(0, row0, b), sc[1].narrow(0, row0, b)) * (static_cast<double>(b) / static_cast<double>(B));
          if (ref) l = l + o.kl_coef * masked_sum(kl_estimate(lp, ref_logp.narrow(0, row0, b), o.kl_estimator), mk) / tokens;
          return l;
        });
        grad_norm = train.clip_grad_norm(o.grad_clip);
        actor.opt->step();
      } else {
        const Targets t = ppo_targets();
        double sum = 0;
        int64_t n = 0;
        minibatches(0x5EED0000ULL + static_cast<uint64_t>(it), [&](const torch::Tensor& rows) {
          const lm::GenerateResult sub = rows_of(t.s, rows);
          const torch::Tensor mk = t.mask.index_select(0, rows), old = t.old_logp.index_select(0, rows), adv = t.adv.index_select(0, rows);
          const torch::Tensor refl = ref ? t.ref_logp.index_select(0, rows) : torch::Tensor();
          const torch::Tensor tokens = mk.sum().clamp_min(1);
          actor.opt->zero_grad();
          sum += train.backward(sub.sequences, sub.attention_mask, [&](const torch::Tensor& out, int64_t row0) {
            const int64_t b = out.size(0);
            const torch::Tensor lp = response_logp(out, sub, row0, gopt.temperature);
            const torch::Tensor mkr = mk.narrow(0, row0, b);
            torch::Tensor l = ppo_policy_loss(lp, old.narrow(0, row0, b), adv.narrow(0, row0, b), mkr, o.clip).loss * mkr.sum().clamp_min(1) / tokens;
            if (ref && (grouped || !o.kl_in_reward)) l = l + o.kl_coef * masked_sum(kl_estimate(lp, refl.narrow(0, row0, b), o.kl_estimator), mkr) / tokens;
            return l;
          });
          grad_norm = train.clip_grad_norm(o.grad_clip);
          actor.opt->step();
          ++n;
        });
        loss = sum / static_cast<double>(n);
      }
      end("actor_train");
    }
    // critic_train (PPO): the clipped value loss per minibatch.
    if (ppo && critic->home->member()) {
      parallel::ParallelLM& ct = *critic->home;
      begin("critic_train");
      const Targets t = ppo_targets();
      double sum = 0;
      int64_t n = 0;
      minibatches(0xC217000ULL + static_cast<uint64_t>(it), [&](const torch::Tensor& rows) {
        const lm::GenerateResult sub = rows_of(t.s, rows);
        const int64_t N = sub.new_tokens();
        const torch::Tensor mk = t.mask.index_select(0, rows), oldv = t.old_values.index_select(0, rows), ret = t.returns.index_select(0, rows);
        const torch::Tensor tokens = mk.sum().clamp_min(1);
        critic->opt->zero_grad();
        sum += ct.backward(sub.sequences, sub.attention_mask, [&](const torch::Tensor& out, int64_t row0) {
          const int64_t b = out.size(0);
          const torch::Tensor mkr = mk.narrow(0, row0, b);
          return o.vf_coef * value_loss(out.slice(1, P - 1, P + N - 1), oldv.narrow(0, row0, b), ret.narrow(0, row0, b), mkr, o.value_clip) *
                 mkr.sum().clamp_min(1) / tokens;
        });
        ct.clip_grad_norm(o.grad_clip);
        critic->opt->step();
        ++n;
      });
      value_loss_mean = sum / static_cast<double>(n);
      end("critic_train");
    }
    if (me == 0) {
      const auto& sc = flow.get("scores");
      reward_mean = sc[0].to(torch::kFloat64).mean().item<double>();
      if (remax) greedy_mean = sc[1].to(torch::kFloat64).mean().item<double>();
    }
    flow.finish();
    // The iteration's record: every process's spans and numbers, gathered.
    std::vector<double> row;
    for (const auto& c : calls) {
      const auto f = span.find(c);
      row.push_back(f == span.end() ? NAN : f->second.first);
      row.push_back(f == span.end() ? NAN : f->second.second);
    }
    row.insert(row.end(), {loss, grad_norm, reward_mean, greedy_mean, static_cast<double>(moved), value_loss_mean});
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
    nlohmann::json rec = {{"iteration", it + 1},
                          {"reward_mean", first_finite(base + 2)},
                          {"loss", first_finite(base)},
                          {"grad_norm", first_finite(base + 1)},
                          {"realloc_bytes", a.select(1, base + 4).sum().item<double>()},
                          {"seconds", seconds}};
    if (remax) rec["greedy_reward_mean"] = first_finite(base + 3);
    if (ppo) rec["value_loss"] = first_finite(base + 5);
    if (!std::isfinite(rec["loss"].get<double>()))
      throw Error(fmt::format("the policy loss is not finite at iteration {} (--lr {:g} too large?); the last checkpoint is kept", it + 1, o.lr));
    res.history.push_back(rec);
    if (on_record) on_record(rec);
    if (ck.every > 0 && !ck.path.empty() && (it + 1) % ck.every == 0 && it + 1 < stop_at) save(it + 1);
    if (const char* die = std::getenv("PARAMKIT_TEST_DIE_RANK"); die && std::atoll(die) == me && it + 1 == start + 2)
      std::abort();  // tests: a process killed after two iterations of this run
  }
  res.iterations = it;
  res.finished = it >= o.iterations;
  if (!ck.path.empty()) save(it);
  res.actor_final = parallel::gather_full(g, *actor.home, 0);
  return res;
}

}  // namespace paramkit::rlhf
