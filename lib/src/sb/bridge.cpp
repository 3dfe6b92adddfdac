// IPF bridges, stitching, held-out W2 and the refinement rounds.
#include "paramkit/sb/bridge.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include <cmath>

#include "paramkit/core/clock.h"
#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/io/json.h"
#include "paramkit/ot/emd.h"

namespace paramkit::sb {

namespace {
at::Generator generator(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }
torch::Tensor randn(const torch::Tensor& like, at::Generator& gen) {
  return at::normal(0.0, 1.0, like.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat64));
}
torch::Tensor with_time(const torch::Tensor& x, double t) { return torch::cat({x, torch::full({x.size(0), 1}, t, torch::kFloat64)}, 1); }
int64_t steps_for(double t0, double t1, double dt) { return std::max<int64_t>(1, static_cast<int64_t>(std::ceil((t1 - t0) / dt - 1e-9))); }

// Regression data from a path [S + 1, n, d] on grid t: inputs (x and its time: at i + 1 for the backward
// drift, at i for the forward one) and the increments per unit time. The reference enters IPF only
// through the first simulation (every later half-bridge is the time reversal of the previous one), so
// the drifts are regressed whole: out of the data's support they revert to the data's mean drift instead
// of following a reference that may blow up backwards in time (Lotka-Volterra's x y terms).
void regress_path(Regressor& r, const Path& p, bool backward, uint64_t seed) {
  const int64_t S = p.x.size(0) - 1;
  std::vector<torch::Tensor> zs, ys;
  for (int64_t i = 0; i < S; ++i) {
    const double h = p.t[static_cast<size_t>(i + 1)] - p.t[static_cast<size_t>(i)];
    const torch::Tensor a = p.x[i], b = p.x[i + 1];
    if (backward) {  // X_i = X_{i+1} + B(X_{i+1}, t_{i+1}) h, prior mean -ref
      zs.push_back(with_time(b, p.t[static_cast<size_t>(i + 1)]));
      ys.push_back((a - b) / h);
    } else {  // X_{i+1} = X_i + F(X_i, t_i) h, prior mean ref
      zs.push_back(with_time(a, p.t[static_cast<size_t>(i)]));
      ys.push_back((b - a) / h);
    }
  }
  r.fit(torch::cat(zs), torch::cat(ys), seed);
}
}  // namespace

void BridgeOptions::validate() const {
  if (!(sigma > 0) || !std::isfinite(sigma) || sigma > 1e6) throw UsageError("--sigma must be in (0, 1e6]");
  if (!(dt > 0) || !std::isfinite(dt) || dt > 1e6) throw UsageError("--dt must be in (0, 1e6]");
  if (ipf_iterations < 1 || ipf_iterations > 1000) throw UsageError("--ipf-iterations is outside [1, 1000]");
  regressor.validate();
}

Path run_forward(const Bridge& b, const MeanDrift& ref, const torch::Tensor& x0, const BridgeOptions& o, at::Generator gen, double until) {
  const double t1 = std::isnan(until) ? b.t1 : until;
  const int64_t S = steps_for(b.t0, t1, o.dt);
  const double h = (t1 - b.t0) / static_cast<double>(S);
  Path p;
  std::vector<torch::Tensor> xs = {x0.to(torch::kFloat64)};
  p.t.push_back(b.t0);
  for (int64_t i = 0; i < S; ++i) {
    if ((i & 7) == 0) check_stop();
    const double t = b.t0 + h * static_cast<double>(i);
    const torch::Tensor& x = xs.back();
    const torch::Tensor f = b.forward ? b.forward->predict(with_time(x, t)) : ref(x);
    xs.push_back(x + f * h + o.sigma * std::sqrt(h) * randn(x, gen));
    p.t.push_back(b.t0 + h * static_cast<double>(i + 1));
  }
  p.x = torch::stack(xs);
  return p;
}

Path run_backward(const Bridge& b, const MeanDrift& ref, const torch::Tensor& x1, const BridgeOptions& o, at::Generator gen) {
  const int64_t S = steps_for(b.t0, b.t1, o.dt);
  const double h = (b.t1 - b.t0) / static_cast<double>(S);
  std::vector<torch::Tensor> xs(static_cast<size_t>(S + 1));
  xs[static_cast<size_t>(S)] = x1.to(torch::kFloat64);
  for (int64_t i = S - 1; i >= 0; --i) {
    if ((i & 7) == 0) check_stop();
    const double t = b.t0 + h * static_cast<double>(i + 1);
    const torch::Tensor& x = xs[static_cast<size_t>(i + 1)];
    const torch::Tensor f = b.backward ? b.backward->predict(with_time(x, t)) : -ref(x);
    xs[static_cast<size_t>(i)] = x + f * h + o.sigma * std::sqrt(h) * randn(x, gen);
  }
  Path p;
  for (int64_t i = 0; i <= S; ++i) p.t.push_back(b.t0 + h * static_cast<double>(i));
  p.x = torch::stack(xs);
  return p;
}

Bridge fit_bridge(const torch::Tensor& x0, const torch::Tensor& x1, double t0, double t1, const MeanDrift& ref, const BridgeOptions& o,
                  uint64_t seed) {
  o.validate();
  if (!(t1 > t0)) throw UsageError("bridge: t1 must exceed t0");
  Bridge b;
  b.t0 = t0;
  b.t1 = t1;
  auto gen = generator(seed);
  Path fwd = run_forward(b, ref, x0, o, gen);  // the reference process from x0
  for (int64_t it = 0; it < o.ipf_iterations; ++it) {
    b.backward = make_regressor(o.regressor);
    regress_path(*b.backward, fwd, /*backward=*/true, seed * 7919 + static_cast<uint64_t>(2 * it));
    const Path bwd = run_backward(b, ref, x1, o, gen);
    b.forward = make_regressor(o.regressor);
    regress_path(*b.forward, bwd, /*backward=*/false, seed * 7919 + static_cast<uint64_t>(2 * it + 1));
    if (it + 1 < o.ipf_iterations) fwd = run_forward(b, ref, x0, o, gen);
  }
  return b;
}

Path stitch(const std::vector<Bridge>& bridges, const MeanDrift& ref, const Snapshots& s, const BridgeOptions& o, int64_t per_snapshot,
            at::Generator gen) {
  const size_t K = bridges.size();
  std::vector<torch::Tensor> columns;
  Path out;
  for (size_t k = 0; k <= K; ++k) {
    const torch::Tensor start = s.x[k].narrow(0, 0, std::min(per_snapshot, s.x[k].size(0)));
    std::vector<torch::Tensor> pieces;
    std::vector<double> times;
    // Backward through the intervals before snapshot k (earliest first once reversed).
    std::vector<Path> before;
    torch::Tensor cur = start;
    for (size_t j = k; j-- > 0;) {
      before.push_back(run_backward(bridges[j], ref, cur, o, gen));
      cur = before.back().x[0];
    }
    for (auto it = before.rbegin(); it != before.rend(); ++it) {
      const bool first = pieces.empty();
      pieces.push_back(first ? it->x : it->x.narrow(0, 1, it->x.size(0) - 1));
      times.insert(times.end(), it->t.begin() + (first ? 0 : 1), it->t.end());
    }
    cur = start;
    if (pieces.empty()) {
      pieces.push_back(start.unsqueeze(0));
      times.push_back(s.times[k]);
    }
    for (size_t j = k; j < K; ++j) {
      const Path p = run_forward(bridges[j], ref, cur, o, gen);
      pieces.push_back(p.x.narrow(0, 1, p.x.size(0) - 1));
      times.insert(times.end(), p.t.begin() + 1, p.t.end());
      cur = p.x[-1];
    }
    columns.push_back(torch::cat(pieces));
    if (out.t.empty()) out.t = times;
  }
  out.x = torch::cat(columns, 1);
  return out;
}

std::vector<double> heldout_w2(const std::vector<Bridge>& bridges, const MeanDrift& ref, const Snapshots& train, const Snapshots& held,
                               const BridgeOptions& o, int64_t points, uint64_t seed) {
  std::vector<double> w;
  auto gen = generator(seed);
  for (size_t h = 0; h < held.times.size(); ++h) {
    const double t = held.times[h];
    size_t k = 0;
    while (k + 1 < train.times.size() && !(t < train.times[k + 1])) ++k;
    if (!(t > train.times.front() && t < train.times.back()))
      throw UsageError(fmt::format("held-out time {} is outside the training times [{}, {}]", t, train.times.front(), train.times.back()));
    const torch::Tensor x0 = train.x[k].narrow(0, 0, std::min(points, train.x[k].size(0)));
    const torch::Tensor sim = run_forward(bridges[k], ref, x0, o, gen, t).x[-1].contiguous();
    const torch::Tensor target = held.x[h].narrow(0, 0, std::min(points, held.x[h].size(0))).contiguous();
    w.push_back(ot::w2(sim.data_ptr<double>(), sim.size(0), target.data_ptr<double>(), target.size(0), sim.size(1)));
  }
  return w;
}

void RefineOptions::validate() const {
  bridge.validate();
  reference.validate();
  if (!start.empty() && static_cast<int64_t>(start.size()) != reference.parameters())
    throw UsageError(fmt::format("--start: {} values for the {} parameters of {} ({})", start.size(), reference.parameters(), reference.kind,
                                 fmt::join(reference.names(), ", ")));
  for (double v : start)
    if (!std::isfinite(v)) throw UsageError("--start: values must be finite");
  if (rounds < 1 || rounds > 1000) throw UsageError("--rounds is outside [1, 1000]");
  if (fit_iters < 1 || fit_iters > 10000000) throw UsageError("--fit-iters is outside [1, 1e7]");
  if (max_transitions < 10 || eval_points < 2) throw UsageError("--max-transitions / --eval-points too small");
  if (!(tolerance >= 0) || !std::isfinite(tolerance)) throw UsageError("--tolerance must be finite and >= 0");
  checkpoint.validate();
}

nlohmann::json to_json(const RoundRecord& r) {
  nlohmann::json w = nlohmann::json::array();
  for (double v : r.heldout_w2) w.push_back(std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr));
  return {{"round", r.round},
          {"theta", r.theta},
          {"theta_next", r.theta_next},
          {"heldout_w2", w},
          {"mean_w2", std::isfinite(r.mean_w2) ? nlohmann::json(r.mean_w2) : nlohmann::json(nullptr)}};
}

namespace {
RoundRecord record_from_json(const nlohmann::json& j) {
  RoundRecord r;
  r.round = j.at("round").get<int64_t>();
  r.theta = j.at("theta").get<std::vector<double>>();
  r.theta_next = j.at("theta_next").get<std::vector<double>>();
  for (const auto& v : j.at("heldout_w2")) r.heldout_w2.push_back(v.is_null() ? NAN : v.get<double>());
  r.mean_w2 = j.at("mean_w2").is_null() ? NAN : j.at("mean_w2").get<double>();
  return r;
}
}  // namespace

RefineResult refine(const Snapshots& train, const Snapshots& held, const RefineOptions& o_in, uint64_t seed,
                    const std::function<void(const RoundRecord&)>& on_round) {
  RefineOptions o = o_in;
  o.reference.dim = train.dim();
  o.validate();
  train.validate("training snapshots", 2);
  if (o.reference.kind == "brownian") o.rounds = 1;  // nothing to refine: the vanilla SB
  RefineResult res;
  std::vector<double> theta = o.start.empty() ? o.reference.default_theta(seed) : o.start;
  int64_t start_round = 0;
  if (o.checkpoint.resuming()) {
    const nlohmann::json j = read_json(o.checkpoint.path);
    try {
      start_round = j.at("next_round").get<int64_t>();
      theta = j.at("theta").get<std::vector<double>>();
      res.converged = j.at("converged").get<bool>();
      for (const auto& r : j.at("rounds")) res.rounds.push_back(record_from_json(r));
    } catch (const nlohmann::json::exception&) {
      throw InputError(o.checkpoint.path.string(), "checkpoint", "not an mmsb-fit checkpoint");
    }
    if (static_cast<int64_t>(theta.size()) != o.reference.parameters())
      throw InputError(o.checkpoint.path.string(), "theta", "written for another reference class");
    res.resumed = true;
    log::info("resumed from {} at round {}", o.checkpoint.path.string(), start_round + 1);
  }
  const int64_t per_snapshot = 400;
  auto make_ref = [&](const std::vector<double>& th) -> MeanDrift {
    const torch::Tensor t = torch::tensor(th, torch::kFloat64);
    const DriftClass c = o.reference;
    return [c, t](const torch::Tensor& x) {
      torch::NoGradGuard g;
      return drift(c, t, x);
    };
  };
  auto fit_all = [&](const std::vector<double>& th, int64_t round) {
    const MeanDrift ref = make_ref(th);
    std::vector<Bridge> bs;
    for (int64_t k = 0; k + 1 < train.size(); ++k)
      bs.push_back(fit_bridge(train.x[static_cast<size_t>(k)], train.x[static_cast<size_t>(k + 1)], train.times[static_cast<size_t>(k)],
                              train.times[static_cast<size_t>(k + 1)], ref, o.bridge, seed * 1000003ULL + static_cast<uint64_t>(round * 1000 + k)));
    return bs;
  };
  // A round changes theta, the records and the convergence flag only at its end, so a stop inside it
  // (check_stop in the simulations and fits) saves the state before it: the round reruns on --resume.
  const auto save = [&](int64_t next) {
    nlohmann::json rounds = nlohmann::json::array();
    for (const auto& r : res.rounds) rounds.push_back(to_json(r));
    write_file_atomic(o.checkpoint.path, nlohmann::json({{"next_round", next}, {"theta", theta}, {"converged", res.converged}, {"rounds", rounds}}).dump());
  };
  const auto run_round = [&](int64_t round) {
        RoundRecord rec;
        rec.round = round + 1;
        rec.theta = theta;
        const MeanDrift ref = make_ref(theta);
        double t0 = monotonic_seconds();
        res.bridges = fit_all(theta, round);
        rec.seconds_bridges = monotonic_seconds() - t0;
        t0 = monotonic_seconds();
        if (!held.times.empty()) {
          rec.heldout_w2 = heldout_w2(res.bridges, ref, train, held, o.bridge, o.eval_points, seed * 31 + static_cast<uint64_t>(round));
          double s = 0;
          for (double v : rec.heldout_w2) s += v;
          rec.mean_w2 = s / static_cast<double>(rec.heldout_w2.size());
        }
        rec.seconds_eval = monotonic_seconds() - t0;
        t0 = monotonic_seconds();
        auto gen = generator(seed * 131 + static_cast<uint64_t>(round));
        res.trajectories = stitch(res.bridges, ref, train, o.bridge, per_snapshot, gen);
        if (!torch::isfinite(res.trajectories.x).all().item<bool>())
          throw Error(fmt::format("round {}: the stitched trajectories diverged (NaN or infinite): try a smaller --dt, more IPF iterations or "
                                  "another --regressor", rec.round));
        if (o.reference.parameters() > 0) {
          const torch::Tensor& X = res.trajectories.x;
          const int64_t G = X.size(0), n = X.size(1), d = X.size(2);
          std::vector<double> hs;
          for (int64_t i = 0; i + 1 < G; ++i) hs.push_back(res.trajectories.t[static_cast<size_t>(i + 1)] - res.trajectories.t[static_cast<size_t>(i)]);
          torch::Tensor xa = X.narrow(0, 0, G - 1).reshape({-1, d}), xb = X.narrow(0, 1, G - 1).reshape({-1, d});
          torch::Tensor dt = torch::tensor(hs, torch::kFloat64).repeat_interleave(n);
          if (xa.size(0) > o.max_transitions) {
            auto g2 = generator(seed * 977 + static_cast<uint64_t>(round));
            const torch::Tensor idx = at::randperm(xa.size(0), g2, torch::kInt64).narrow(0, 0, o.max_transitions);
            xa = xa.index_select(0, idx);
            xb = xb.index_select(0, idx);
            dt = dt.index_select(0, idx);
          }
          const torch::Tensor next = fit_theta(o.reference, xa, xb, dt, torch::tensor(theta, torch::kFloat64), o.fit_iters);
          rec.theta_next.assign(next.data_ptr<double>(), next.data_ptr<double>() + next.numel());
          if (!torch::isfinite(next).all().item<bool>()) throw Error(fmt::format("round {}: the reference fit diverged (NaN)", rec.round));
          double change = 0;
          for (size_t i = 0; i < theta.size(); ++i)
            change = std::max(change, std::abs(rec.theta_next[i] - theta[i]) / (1 + std::abs(theta[i])));
          theta = rec.theta_next;
          if (change < o.tolerance) res.converged = true;
        }
        rec.seconds_refit = monotonic_seconds() - t0;
        res.rounds.push_back(rec);
        log::info("round {}: theta {:.4g}{}", rec.round, fmt::join(rec.theta_next, ", "),
                  std::isfinite(rec.mean_w2) ? fmt::format(", held-out W2 {:.4f}", rec.mean_w2) : "");
        if (on_round) on_round(rec);
  };
  const LoopOutcome loop = run_resumable(
      o.checkpoint, start_round, o.rounds,
      [&](int64_t round) {
        if (res.converged) return;
        try {
          run_round(round);
        } catch (const Interrupted&) {
          if (!o.checkpoint.path.empty()) save(round);
          throw;
        }
      },
      save);
  res.finished = loop.finished;
  res.theta = theta;
  if (res.finished && res.bridges.empty() && !res.rounds.empty()) {  // resumed after the last round: rebuild it
    const RoundRecord& last = res.rounds.back();
    res.bridges = fit_all(last.theta, last.round - 1);
    auto gen = generator(seed * 131 + static_cast<uint64_t>(last.round - 1));
    res.trajectories = stitch(res.bridges, make_ref(last.theta), train, o.bridge, per_snapshot, gen);
  }
  return res;
}

}  // namespace paramkit::sb
