#include "paramkit/nbody/dqn.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/progress.h"
#include "paramkit/io/json.h"
#include "paramkit/torch/checkpoint.h"

namespace paramkit::nbody {

QNetImpl::QNetImpl(int state, int hidden, int rep, int actions) : repeats(rep) {
  in = register_module("in", torch::nn::Linear(state, hidden));
  mid = register_module("mid", torch::nn::Linear(hidden, hidden));
  out = register_module("out", torch::nn::Linear(hidden, actions));
}

torch::Tensor QNetImpl::forward(torch::Tensor x) {
  x = torch::relu(in->forward(x));
  for (int r = 0; r < repeats; ++r) x = torch::relu(mid->forward(x));
  return out->forward(x);
}

namespace {
torch::Tensor rows(const std::vector<Transition>& b, bool next) {
  const int64_t n = static_cast<int64_t>(b.size()), d = static_cast<int64_t>(b[0].s.size());
  torch::Tensor t = torch::empty({n, d}, torch::kFloat32);
  auto a = t.accessor<float, 2>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < d; ++k) a[i][k] = static_cast<float>(next ? b[i].s2[k] : b[i].s[k]);
  return t;
}
torch::Tensor state_tensor(const std::vector<double>& s) {
  torch::Tensor t = torch::empty({1, static_cast<int64_t>(s.size())}, torch::kFloat32);
  for (size_t k = 0; k < s.size(); ++k) t[0][static_cast<int64_t>(k)] = static_cast<float>(s[k]);
  return t;
}
}  // namespace

torch::Tensor dqn_loss(QNet& policy, QNet& target, const std::vector<Transition>& b, double gamma, bool double_dqn) {
  const int64_t n = static_cast<int64_t>(b.size());
  std::vector<int64_t> a(n);
  std::vector<float> r(n), notdone(n);
  for (int64_t i = 0; i < n; ++i) {
    a[i] = b[i].a;
    r[i] = static_cast<float>(b[i].r);
    notdone[i] = b[i].done ? 0.f : 1.f;
  }
  torch::Tensor q = policy->forward(rows(b, false)).gather(1, torch::tensor(a).unsqueeze(1)).squeeze(1);
  torch::Tensor next;
  {
    torch::NoGradGuard ng;
    torch::Tensor s2 = rows(b, true);
    if (double_dqn) next = target->forward(s2).gather(1, policy->forward(s2).argmax(1, true)).squeeze(1);
    else next = std::get<0>(target->forward(s2).max(1));
  }
  torch::Tensor y = torch::tensor(r) + static_cast<float>(gamma) * torch::tensor(notdone) * next;
  return torch::nn::functional::smooth_l1_loss(q, y);  // Huber with delta 1
}

DqnAgent::DqnAgent(int state, int n_actions, const DqnOptions& o, uint64_t seed) : opt(o), actions(n_actions), rng_(seed, 17) {
  torch::manual_seed(seed);
  policy = QNet(state, o.hidden, o.repeats, n_actions);
  target = QNet(state, o.hidden, o.repeats, n_actions);
  {
    torch::NoGradGuard ng;
    auto p = policy->parameters(), t = target->parameters();
    for (size_t i = 0; i < p.size(); ++i) t[i].copy_(p[i]);
  }
  adam_ = std::make_unique<torch::optim::AdamW>(policy->parameters(), torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay).amsgrad(true));
}

int DqnAgent::greedy(const std::vector<double>& s) {
  torch::NoGradGuard ng;
  return static_cast<int>(policy->forward(state_tensor(s)).argmax(1).item<int64_t>());
}

int DqnAgent::act(const std::vector<double>& s, double eps) {
  if (rng_.uniform() < eps) return static_cast<int>(rng_.below(static_cast<uint64_t>(actions)));
  return greedy(s);
}

double DqnAgent::epsilon(int64_t steps) const {
  return opt.eps_end + (opt.eps_start - opt.eps_end) * std::exp(-static_cast<double>(steps) / opt.eps_decay);
}

void DqnAgent::remember(const Transition& t) {
  if (memory_.size() < static_cast<size_t>(opt.replay)) {
    memory_.push_back(t);
  } else {
    memory_[next_] = t;
  }
  next_ = (next_ + 1) % static_cast<size_t>(opt.replay);
}

double DqnAgent::learn() {
  if (memory_.size() < static_cast<size_t>(opt.batch)) return 0;
  std::vector<Transition> b;
  for (int i = 0; i < opt.batch; ++i) b.push_back(memory_[rng_.below(memory_.size())]);
  torch::Tensor loss = dqn_loss(policy, target, b, opt.gamma, opt.double_dqn);
  adam_->zero_grad();
  loss.backward();
  for (auto& p : policy->parameters())
    if (p.grad().defined()) p.grad().clamp_(-opt.clip, opt.clip);
  adam_->step();
  torch::NoGradGuard ng;
  auto p = policy->parameters(), t = target->parameters();
  for (size_t i = 0; i < p.size(); ++i) t[i].mul_(1 - opt.tau).add_(p[i], opt.tau);
  return loss.item<double>();
}

namespace {
struct Pair : torch::nn::Module {
  Pair(QNet p, QNet t) {
    register_module("policy", p);
    register_module("target", t);
  }
};
}  // namespace

void DqnAgent::save(const std::filesystem::path& path, const nlohmann::json& extra) {
  CheckpointState st;
  st.extra = extra;
  nlohmann::json mem = nlohmann::json::array();
  for (const auto& t : memory_) mem.push_back({t.s, t.a, t.r, t.s2, t.done});
  st.extra["replay"] = mem;
  st.extra["replay_next"] = next_;
  Pair pair(policy, target);
  save_checkpoint(path, pair, *adam_, &rng_, st);
}

nlohmann::json DqnAgent::load(const std::filesystem::path& path) {
  Pair pair(policy, target);
  CheckpointState st = load_checkpoint(path, pair, *adam_, &rng_);
  memory_.clear();
  try {
    for (const auto& m : st.extra.at("replay")) {
      Transition t;
      t.s = m[0].get<std::vector<double>>();
      t.a = m[1].get<int>();
      t.r = m[2].get<double>();
      t.s2 = m[3].get<std::vector<double>>();
      t.done = m[4].get<bool>();
      memory_.push_back(std::move(t));
    }
    next_ = st.extra.at("replay_next").get<size_t>();
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path.string(), "replay", std::string("malformed checkpoint: ") + e.what());
  }
  return st.extra;
}

TrainResult train_dqn(const TrainConfig& c) {
  c.validate();
  ThreeBodyEnv env(c.env);
  // A signal ends the run at the next episode boundary, where the checkpoint is consistent (an
  // episode is at most steps x max_evaluations_per_step force evaluations, typically 0.1 s).
  env.stop_on_signal(false);
  const int n_actions = static_cast<int>(env.options().actions.size());
  DqnAgent agent(ThreeBodyEnv::kStateSize, n_actions, c.dqn, c.seed);
  int64_t start_episode = 0;
  int64_t steps_done = 0;
  nlohmann::json history = nlohmann::json::array();
  if (c.checkpoint.resuming()) {
    nlohmann::json extra = agent.load(c.checkpoint.path);
    try {
      start_episode = extra.at("episode").get<int64_t>();
      steps_done = extra.at("steps_done").get<int64_t>();
      history = extra.at("history");
    } catch (const nlohmann::json::exception& e) {
      throw InputError(c.checkpoint.path.string(), "episode", std::string("malformed checkpoint: ") + e.what());
    }
    log::info("resumed from {} at episode {}", c.checkpoint.path.string(), start_episode);
  }
  std::optional<JsonlLog> jl;
  if (!c.log.empty()) jl.emplace(c.log, "episode", start_episode > 0 ? start_episode - 1 : -1);
  // One tick per episode, on a terminal only (a training run is otherwise silent without -v).
  Progress progress("episodes", c.episodes);
  progress.update(start_episode);
  auto episode = [&](int64_t ep) {
    std::vector<double> s = env.reset(c.seed * 100000 + static_cast<uint64_t>(ep));
    int64_t ep_steps = 0;
    double ret = 0, loss = 0;
    StepResult r;
    for (;;) {
      const double eps = agent.epsilon(c.dqn.eps_reset_each_episode ? ep_steps : steps_done);
      const int a = agent.act(s, eps);
      r = env.step(a);
      agent.remember({s, r.state, a, r.reward, r.done});
      loss = agent.learn();
      ret += r.reward;
      s = r.state;
      ++steps_done;
      ++ep_steps;
      if (r.done) break;
    }
    nlohmann::json row = {{"episode", ep},         {"return", ret},
                          {"steps", ep_steps},     {"energy_error", std::isfinite(r.energy_error) ? nlohmann::json(r.energy_error) : nlohmann::json(nullptr)},
                          {"force_evaluations", env.force_evaluations()}, {"epsilon", agent.epsilon(c.dqn.eps_reset_each_episode ? ep_steps : steps_done)},
                          {"loss", loss}};
    history.push_back(ret);
    if (jl) jl->write(row);
    log::debug("episode {}: return {:.2f}, |dE/E0| {:.2e}", ep, ret, r.energy_error);
    progress.update(ep + 1);
  };
  auto save = [&](int64_t next) {
    agent.save(c.checkpoint.path, {{"episode", next}, {"steps_done", steps_done}, {"history", history}});
  };
  const LoopOutcome out = run_resumable(c.checkpoint, start_episode, c.episodes, episode, save);
  progress.finish();
  TrainResult res;
  res.episodes_done = out.done;
  res.finished = out.finished;
  res.agent_steps = steps_done;
  double last10 = 0;
  int k = 0;
  for (size_t i = history.size() >= 10 ? history.size() - 10 : 0; i < history.size(); ++i, ++k) last10 += history[i].get<double>();
  res.mean_return_last_10 = k ? last10 / k : 0.0;
  if (!out.finished) {
    log::info("stopped after {} episodes (--stop-after); --resume continues", out.done - start_episode);
    return res;
  }
  res.policy = to_policy(agent.policy, env.options());
  return res;
}

Policy to_policy(const QNet& net, const EnvOptions& env) {
  auto copy = [](const torch::nn::Linear& l, Policy::Dense& d) {
    torch::Tensor w = l->weight.detach().to(torch::kFloat32).t().contiguous(), b = l->bias.detach().to(torch::kFloat32).contiguous();
    d.in = static_cast<int>(w.size(0));
    d.out = static_cast<int>(w.size(1));
    d.w.assign(w.data_ptr<float>(), w.data_ptr<float>() + w.numel());
    d.b.assign(b.data_ptr<float>(), b.data_ptr<float>() + b.numel());
  };
  Policy p;
  p.env = env;
  copy(net->in, p.in);
  copy(net->mid, p.mid);
  copy(net->out, p.out);
  p.repeats = net->repeats;
  return p;
}

}  // namespace paramkit::nbody
