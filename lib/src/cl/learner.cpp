// Continual-learning algorithms, their state and the resumable run over a scenario.
#include "paramkit/cl/learner.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/progress.h"
#include "paramkit/core/signals.h"
#include "paramkit/data/dataset.h"
#include "paramkit/torch/checkpoint.h"

namespace paramkit::cl {

namespace F = torch::nn::functional;

const std::vector<std::string>& algorithm_names() {
  static const std::vector<std::string> n = {"finetune", "joint", "ewc", "lwf", "replay", "icarl", "wa", "der", "derpp"};
  return n;
}

std::vector<hpo::HyperParam> algorithm_space(const std::string& name) {
  using hpo::HyperParam;
  using hpo::Kind;
  using hpo::Transform;
  std::vector<HyperParam> s = {{"lr", Kind::continuous, Transform::log_sigmoid, 1e-3, 0.3, 0.03}};
  if (name == "ewc") s.push_back({"ewc.lambda", Kind::continuous, Transform::log_sigmoid, 1.0, 1e5, 100.0});
  if (name == "lwf") {
    s.push_back({"lwf.alpha", Kind::continuous, Transform::log_sigmoid, 0.1, 10.0, 1.0});
    s.push_back({"lwf.temperature", Kind::continuous, Transform::sigmoid, 1.0, 4.0, 2.0});
  }
  if (name == "wa") s.push_back({"wa.alpha", Kind::continuous, Transform::log_sigmoid, 0.1, 10.0, 1.0});
  if (name == "der" || name == "derpp") s.push_back({"der.alpha", Kind::continuous, Transform::log_sigmoid, 0.01, 1.0, 0.3});
  if (name == "derpp") s.push_back({"der.beta", Kind::continuous, Transform::log_sigmoid, 0.01, 1.0, 0.5});
  return s;
}

double AlgoSpec::hyper(const std::string& key) const {
  auto it = hypers.find(key);
  if (it != hypers.end()) return it->second;
  for (const auto& p : algorithm_space(name))
    if (p.name == key) return p.init;
  throw Error(fmt::format("{} has no hyperparameter {}", name, key));
}

void AlgoSpec::validate() const {
  const auto& names = algorithm_names();
  if (std::find(names.begin(), names.end(), name) == names.end())
    throw UsageError(fmt::format("algorithm '{}': expected one of finetune, joint, ewc, lwf, replay, icarl, wa, der, derpp", name));
  const auto space = algorithm_space(name);
  for (const auto& [k, v] : hypers) {
    auto it = std::find_if(space.begin(), space.end(), [&](const hpo::HyperParam& p) { return p.name == k; });
    if (it == space.end()) {
      std::string known;
      for (const auto& p : space) known += (known.empty() ? "" : ", ") + p.name;
      throw UsageError(fmt::format("{}: unknown hyperparameter '{}' (it has: {})", name, k, known));
    }
    if (!std::isfinite(v) || v < it->lo || v > it->hi) throw UsageError(fmt::format("{}: {} = {} is outside [{}, {}]", name, k, v, it->lo, it->hi));
  }
  if (epochs < 1 || epochs > 10000) throw UsageError(fmt::format("--epochs {} is outside [1, 10000]", epochs));
  if (batch_size < 1 || batch_size > (1 << 20)) throw UsageError("--batch-size must be in [1, 1048576]");
  if (memory < 0 || memory > (1 << 24)) throw UsageError("--memory must be in [0, 16777216]");
  const bool needs_memory = name == "replay" || name == "icarl" || name == "wa" || name == "der" || name == "derpp";
  if (needs_memory && memory < 1) throw UsageError(fmt::format("{} needs --memory of at least 1", name));
  if (hidden.empty() || hidden.size() > 16) throw UsageError("--hidden: 1 to 16 layers");
  for (int64_t h : hidden)
    if (h < 1 || h > (1 << 16)) throw UsageError(fmt::format("--hidden: width {} is outside [1, 65536]", h));
}

int64_t reservoir_slot(int64_t seen, int64_t capacity, Rng& rng) {
  if (capacity <= 0) return -1;
  if (seen < capacity) return seen;
  const int64_t j = static_cast<int64_t>(rng.below(static_cast<uint64_t>(seen + 1)));
  return j < capacity ? j : -1;
}

std::vector<int64_t> herding(const torch::Tensor& features, int64_t m) {
  const torch::Tensor f = features.to(torch::kFloat64);
  const int64_t n = f.size(0);
  m = std::min(m, n);
  const torch::Tensor mu = f.mean(0);
  std::vector<int64_t> chosen;
  torch::Tensor sum = torch::zeros_like(mu);
  std::vector<bool> used(static_cast<size_t>(n), false);
  for (int64_t k = 1; k <= m; ++k) {
    // the row that brings the mean of the chosen closest to mu
    const torch::Tensor cand = (sum.unsqueeze(0) + f) / static_cast<double>(k);
    torch::Tensor d = (cand - mu.unsqueeze(0)).norm(2, 1);
    for (int64_t i = 0; i < n; ++i)
      if (used[static_cast<size_t>(i)]) d[i] = INFINITY;
    const int64_t best = d.argmin().item<int64_t>();
    used[static_cast<size_t>(best)] = true;
    chosen.push_back(best);
    sum = sum + f[best];
  }
  return chosen;
}

std::vector<torch::Tensor> diagonal_fisher(torch::nn::Module& model, const std::function<torch::Tensor(torch::Tensor)>& forward, const torch::Tensor& x,
                                           const torch::Tensor& y) {
  std::vector<torch::Tensor> params = model.parameters(), fisher;
  for (const auto& p : params) fisher.push_back(torch::zeros_like(p));
  const int64_t n = x.size(0);
  for (int64_t i = 0; i < n; ++i) {
    const torch::Tensor logp = F::log_softmax(forward(x.slice(0, i, i + 1)), 1);
    const torch::Tensor l = logp.select(1, y[i].item<int64_t>()).sum();
    const auto g = torch::autograd::grad({l}, params, {}, false, false, true);
    for (size_t k = 0; k < params.size(); ++k)
      if (g[k].defined()) fisher[k] += g[k].detach().square();
  }
  for (auto& f : fisher) f /= static_cast<double>(std::max<int64_t>(1, n));
  return fisher;
}

namespace {

struct ClNetImpl : torch::nn::Module {
  ClNetImpl(int64_t in, const std::vector<int64_t>& hidden, int64_t out) {
    int64_t w = in;
    for (size_t i = 0; i < hidden.size(); ++i) {
      layers.push_back(register_module(fmt::format("fc{}", i), torch::nn::Linear(w, hidden[i])));
      w = hidden[i];
    }
    head = register_module("head", torch::nn::Linear(w, out));
  }
  torch::Tensor features(const torch::Tensor& x) {
    torch::Tensor h = x.flatten(1);
    for (auto& l : layers) h = torch::relu(l(h));
    return h;
  }
  torch::Tensor forward(const torch::Tensor& x) { return head(features(x)); }
  std::vector<torch::nn::Linear> layers;
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(ClNet);

struct State : torch::nn::Module {};

}  // namespace

RunResult run_continual(const Scenario& sc, const AlgoSpec& algo, uint64_t seed, const CheckpointOptions& ck) {
  algo.validate();
  ck.validate();
  const std::string& a = algo.name;
  const bool is_replay = a == "replay", is_der = a == "der" || a == "derpp", is_exemplar = a == "icarl" || a == "wa";
  const bool uses_old = a == "lwf" || a == "icarl" || a == "wa";
  const int64_t T = static_cast<int64_t>(sc.tasks.size()), outputs = sc.outputs;
  const auto& first = sc.tasks.front().train.x;
  const int64_t H = first.size(1), W = first.size(2);
  const std::string setting = sc.spec.setting;
  if (is_exemplar && setting != "class")
    throw UsageError(fmt::format("{} is a class-incremental method (new classes, their exemplars and head rows): use a split scenario "
                                 "with --setting class", a));
  const int64_t cpt = sc.spec.kind == "split" ? sc.spec.classes_per_task : outputs;
  const double lr = algo.hyper("lr");

  torch::manual_seed(seed);
  ClNet net(H * W, algo.hidden, outputs), old(H * W, algo.hidden, outputs);
  torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(lr));
  State state;
  for (const auto& p : net->named_parameters()) {
    std::string n = "net." + p.key();
    std::replace(n.begin(), n.end(), '.', '_');
    state.register_parameter(n, p.value());
  }
  const int64_t M = (is_replay || is_der || is_exemplar) ? algo.memory : 0;
  torch::Tensor mem_x = state.register_buffer("mem_x", torch::zeros({std::max<int64_t>(M, 1), H, W}));
  torch::Tensor mem_y = state.register_buffer("mem_y", torch::zeros({std::max<int64_t>(M, 1)}, torch::kInt64));
  torch::Tensor mem_logits = state.register_buffer("mem_logits", torch::zeros({std::max<int64_t>(M, 1), outputs}));
  std::vector<torch::Tensor> params = net->parameters(), fisher, star, old_params = old->parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    fisher.push_back(state.register_buffer(fmt::format("fisher{}", i), torch::zeros_like(params[i])));
    star.push_back(state.register_buffer(fmt::format("star{}", i), torch::zeros_like(params[i])));
    state.register_buffer(fmt::format("old{}", i), old_params[i]);
  }
  Rng rng(seed, 0xc1);
  int64_t mem_count = 0, seen = 0;
  RunResult result;

  // Units: batches of every task in order (joint: of the union of the tasks so far).
  std::vector<Dataset> data(static_cast<size_t>(T));
  std::vector<int64_t> start(static_cast<size_t>(T) + 1, 0), per_epoch(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    if (a == "joint" && t > 0) {
      data[t] = {torch::cat({data[t - 1].x, sc.tasks[t].train.x}), torch::cat({data[t - 1].y, sc.tasks[t].train.y})};
    } else {
      data[t] = sc.tasks[t].train;
    }
    if (data[t].size() == 0) throw InputError("scenario", fmt::format("task {}", t), "has no training rows");
    per_epoch[t] = (data[t].size() + algo.batch_size - 1) / algo.batch_size;
    start[t + 1] = start[t] + algo.epochs * per_epoch[t];
  }
  const int64_t total = start[T];
  auto seen_units = [&](int64_t t) { return setting == "class" ? (t + 1) * cpt : outputs; };
  // Logits and labels restricted to what task t trains on: class-IL the units seen so far, task-IL the
  // task's own, domain-IL all.
  auto restrict_train = [&](const torch::Tensor& logits, const torch::Tensor& y, int64_t t) {
    if (setting == "task") return std::make_pair(logits.slice(1, t * cpt, (t + 1) * cpt), y - t * cpt);
    return std::make_pair(logits.slice(1, 0, seen_units(t)), y);
  };
  auto kd = [&](const torch::Tensor& logits, const torch::Tensor& old_logits, double temp) {
    return F::kl_div(F::log_softmax(logits / temp, 1), F::softmax(old_logits / temp, 1), F::KLDivFuncOptions(torch::kBatchMean)) * temp * temp;
  };
  auto sample_memory = [&](int64_t n) { return torch::randint(0, mem_count, {n}, torch::kInt64); };

  // Evaluation after task t: row t of the accuracy matrix.
  auto evaluate_row = [&](int64_t t) {
    torch::NoGradGuard g;
    net->eval();
    std::vector<double> row;
    torch::Tensor means;  // iCaRL: nearest mean of exemplars (normalised features), one row per seen unit
    if (a == "icarl" && setting == "class" && mem_count > 0) {
      const torch::Tensor fx = F::normalize(net->features(mem_x.slice(0, 0, mem_count)), F::NormalizeFuncOptions().dim(1));
      std::vector<torch::Tensor> ms;
      for (int64_t u = 0; u < seen_units(t); ++u) {
        const torch::Tensor rows = mem_y.slice(0, 0, mem_count).eq(u).nonzero().squeeze(1);
        ms.push_back(rows.numel() > 0 ? F::normalize(fx.index_select(0, rows).mean(0), F::NormalizeFuncOptions().dim(0)) : torch::full({fx.size(1)}, INFINITY));
      }
      means = torch::stack(ms);
    }
    for (int64_t j = 0; j <= t; ++j) {
      const Dataset& te = sc.tasks[j].test;
      int64_t correct = 0;
      for (int64_t s = 0; s < te.size(); s += 1000) {
        const torch::Tensor x = te.x.slice(0, s, std::min(te.size(), s + 1000)), y = te.y.slice(0, s, std::min(te.size(), s + 1000));
        torch::Tensor pred;
        if (means.defined()) {
          const torch::Tensor f = F::normalize(net->features(x), F::NormalizeFuncOptions().dim(1));
          pred = torch::cdist(f, means).argmin(1);
        } else {
          const torch::Tensor logits = net->forward(x);
          if (setting == "task") pred = logits.slice(1, j * cpt, (j + 1) * cpt).argmax(1) + j * cpt;
          else pred = logits.slice(1, 0, seen_units(t)).argmax(1);
        }
        correct += pred.eq(y).sum().item<int64_t>();
      }
      row.push_back(te.size() > 0 ? static_cast<double>(correct) / static_cast<double>(te.size()) : 0.0);
    }
    net->train();
    result.accuracy.push_back(row);
    log::info("{}: after task {}: mean accuracy {:.4f} over {} task(s)", a, t + 1, final_accuracy(result.accuracy), t + 1);
  };

  auto end_task = [&](int64_t t) {
    if (a == "ewc") {
      const int64_t n = std::min<int64_t>(500, sc.tasks[t].train.size());
      const torch::Tensor x = sc.tasks[t].train.x.slice(0, 0, n), y = sc.tasks[t].train.y.slice(0, 0, n);
      const auto f = diagonal_fisher(*net, [&](torch::Tensor v) { return restrict_train(net->forward(v), y, t).first; },
                                     x, setting == "task" ? y - t * cpt : y);
      torch::NoGradGuard g;
      for (size_t i = 0; i < params.size(); ++i) {
        fisher[i].add_(f[i]);  // online EWC: Fisher summed over tasks
        star[i].copy_(params[i].detach());
      }
    }
    if (is_exemplar) {  // herding: memory / classes seen per class, old classes' lists cut
      torch::NoGradGuard g;
      const int64_t classes = (t + 1) * cpt, m = std::max<int64_t>(1, M / classes);
      std::vector<torch::Tensor> xs, ys;
      for (int64_t u = 0; u < t * cpt; ++u) {
        const torch::Tensor rows = mem_y.slice(0, 0, mem_count).eq(u).nonzero().squeeze(1);
        const torch::Tensor keep = rows.slice(0, 0, std::min<int64_t>(m, rows.size(0)));
        xs.push_back(mem_x.index_select(0, keep));
        ys.push_back(mem_y.index_select(0, keep));
      }
      net->eval();
      const Dataset& tr = sc.tasks[t].train;
      for (int64_t u = t * cpt; u < classes; ++u) {
        const torch::Tensor rows = tr.y.eq(u).nonzero().squeeze(1);
        if (rows.numel() == 0) continue;
        const torch::Tensor f = F::normalize(net->features(tr.x.index_select(0, rows)), F::NormalizeFuncOptions().dim(1));
        const torch::Tensor pick = rows.index_select(0, torch::tensor(herding(f, m), torch::kInt64));
        xs.push_back(tr.x.index_select(0, pick));
        ys.push_back(tr.y.index_select(0, pick));
      }
      net->train();
      const torch::Tensor nx = torch::cat(xs), ny = torch::cat(ys);
      mem_count = std::min<int64_t>(M, nx.size(0));
      mem_x.slice(0, 0, mem_count).copy_(nx.slice(0, 0, mem_count));
      mem_y.slice(0, 0, mem_count).copy_(ny.slice(0, 0, mem_count));
    }
    if (a == "wa" && t > 0) {  // weight aligning: the new classes' head rows scaled to the old ones' mean norm
      torch::NoGradGuard g;
      const torch::Tensor w = net->head->weight;
      const double old_norm = w.slice(0, 0, t * cpt).norm(2, 1).mean().item<double>();
      const double new_norm = w.slice(0, t * cpt, (t + 1) * cpt).norm(2, 1).mean().item<double>();
      if (new_norm > 0) w.slice(0, t * cpt, (t + 1) * cpt).mul_(old_norm / new_norm);
    }
    if (uses_old) {
      torch::NoGradGuard g;
      for (size_t i = 0; i < params.size(); ++i) old_params[i].copy_(params[i].detach());
    }
    evaluate_row(t);
  };

  int64_t start_unit = 0;
  if (ck.resuming()) {
    const CheckpointState st = load_checkpoint(ck.path, state, opt, &rng);
    start_unit = st.position.step;
    mem_count = st.extra.at("mem_count");
    seen = st.extra.at("seen");
    result.accuracy = st.extra.at("accuracy").get<AccuracyMatrix>();
    result.diverged_at = st.extra.value("diverged_at", int64_t{0});
    log::info("resumed from {} at step {}", ck.path.string(), start_unit);
  }
  net->train();
  old->eval();
  Progress progress(a, total);
  auto step = [&](int64_t u) {
    int64_t t = 0;
    while (u >= start[t + 1]) ++t;
    const int64_t k = u - start[t], epoch = k / per_epoch[t], b = k % per_epoch[t];
    if (result.diverged_at > 0) {  // diverged: only the task ends' evaluations remain
      if (u + 1 == start[t + 1]) end_task(t);
      progress.update(u + 1);
      return;
    }
    BatchIterator it(data[t].size(), algo.batch_size, true, seed + 1000003 * static_cast<uint64_t>(t));
    const torch::Tensor idx = torch::tensor(it.batch(epoch, b), torch::kInt64);
    const torch::Tensor x = data[t].x.index_select(0, idx), y = data[t].y.index_select(0, idx);
    opt.zero_grad();
    torch::Tensor loss;
    torch::Tensor logits;
    if ((is_replay || is_exemplar) && mem_count > 0 && (is_replay || t > 0)) {
      const torch::Tensor r = sample_memory(x.size(0));
      const torch::Tensor xx = torch::cat({x, mem_x.index_select(0, r)}), yy = torch::cat({y, mem_y.index_select(0, r)});
      const torch::Tensor all = net->forward(xx);
      logits = all.slice(0, 0, x.size(0));
      if (a == "icarl") {
        const int64_t su = seen_units(t);
        torch::Tensor target = F::one_hot(yy, outputs).to(torch::kFloat32).slice(1, 0, su);
        {
          torch::NoGradGuard g;
          const torch::Tensor o = torch::sigmoid(old->forward(xx)).slice(1, 0, t * cpt);
          target = torch::cat({o, target.slice(1, t * cpt, su)}, 1);
        }
        loss = F::binary_cross_entropy_with_logits(all.slice(1, 0, su), target);
      } else {
        const auto [l, yl] = restrict_train(all, yy, t);
        loss = F::cross_entropy(l, yl);
        if (a == "wa" && t > 0) {
          torch::Tensor ol;
          {
            torch::NoGradGuard g;
            ol = old->forward(xx).slice(1, 0, t * cpt);
          }
          loss = loss + algo.hyper("wa.alpha") * kd(all.slice(1, 0, t * cpt), ol, 2.0);
        }
      }
    } else {
      logits = net->forward(x);
      if (a == "icarl") {
        const int64_t su = seen_units(t);
        torch::Tensor target = F::one_hot(y, outputs).to(torch::kFloat32).slice(1, 0, su);
        if (t > 0) {
          torch::NoGradGuard g;
          target = torch::cat({torch::sigmoid(old->forward(x)).slice(1, 0, t * cpt), target.slice(1, t * cpt, su)}, 1);
        }
        loss = F::binary_cross_entropy_with_logits(logits.slice(1, 0, su), target);
      } else {
        const auto [l, yl] = restrict_train(logits, y, t);
        loss = F::cross_entropy(l, yl);
      }
    }
    if (a == "ewc" && t > 0) {
      torch::Tensor pen = torch::zeros({});
      for (size_t i = 0; i < params.size(); ++i) pen = pen + (fisher[i] * (params[i] - star[i]).square()).sum();
      loss = loss + 0.5 * algo.hyper("ewc.lambda") * pen;
    }
    if (a == "lwf" && t > 0) {
      torch::Tensor ol;
      {
        torch::NoGradGuard g;
        ol = old->forward(x);
      }
      const int64_t old_units = setting == "class" ? t * cpt : outputs;
      loss = loss + algo.hyper("lwf.alpha") * kd(logits.slice(1, 0, old_units), ol.slice(1, 0, old_units), algo.hyper("lwf.temperature"));
    }
    if (is_der && mem_count > 0) {
      const torch::Tensor r = sample_memory(x.size(0));
      loss = loss + algo.hyper("der.alpha") * F::mse_loss(net->forward(mem_x.index_select(0, r)), mem_logits.index_select(0, r));
      if (a == "derpp") {
        const torch::Tensor r2 = sample_memory(x.size(0));
        const auto [l2, y2] = restrict_train(net->forward(mem_x.index_select(0, r2)), mem_y.index_select(0, r2), t);
        loss = loss + algo.hyper("der.beta") * F::cross_entropy(l2, y2);
      }
    }
    const double lv = loss.item<double>();
    if (!std::isfinite(lv)) {
      // A configuration that diverges is a result of tuning, not an error: training stops (the network
      // keeps its weights of the step before), the remaining rows are still evaluated.
      result.diverged_at = u + 1;
      log::warn("{}: the loss is not finite at step {} (learning rate {:g}); training stops, evaluation goes on", a, u + 1, lr);
      if (u + 1 == start[t + 1]) end_task(t);
      progress.update(u + 1);
      return;
    }
    loss.backward();
    opt.step();
    if (is_replay || is_der) {  // reservoir insertion of this batch (DER: with its logits)
      torch::NoGradGuard g;
      for (int64_t i = 0; i < x.size(0); ++i) {
        const int64_t slot = reservoir_slot(seen++, M, rng);
        if (slot < 0) continue;
        mem_x[slot].copy_(x[i]);
        mem_y[slot].copy_(y[i]);
        if (is_der) mem_logits[slot].copy_(logits[i].detach());
        mem_count = std::min(M, std::max(mem_count, slot + 1));
      }
    }
    if (u + 1 == start[t + 1]) end_task(t);
    progress.update(u + 1);
  };
  auto save = [&](int64_t next) {
    CheckpointState st;
    st.position.step = next;
    st.extra = {{"mem_count", mem_count}, {"seen", seen}, {"accuracy", result.accuracy}, {"diverged_at", result.diverged_at}};
    save_checkpoint(ck.path, state, opt, &rng, st);
  };
  const LoopOutcome done = run_resumable(ck, start_unit, total, step, save);
  progress.finish();
  result.finished = done.finished;
  result.steps = done.done;
  return result;
}

}  // namespace paramkit::cl
