#include "paramkit/nbody/commands.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/provenance.h"
#include "paramkit/core/rng.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/io/csv.h"
#include "paramkit/io/json.h"
#include "paramkit/io/svg_plot.h"
#include "paramkit/io/tensor_store.h"

namespace paramkit::nbody {
namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
nlohmann::json finite(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }
}  // namespace

System plummer_sphere(int n, uint64_t seed) {
  Rng rng(seed);
  System s;
  s.G = 1;
  const double a = 3 * M_PI / 16;  // Plummer scale radius in N-body units (E = -1/4)
  for (int i = 0; i < n; ++i) {
    s.m.push_back(1.0 / n);
    double r = a / std::sqrt(std::pow(rng.uniform() * 0.999 + 1e-9, -2.0 / 3.0) - 1);
    auto dir = [&](double len) {
      const double z = 2 * rng.uniform() - 1, ph = 2 * M_PI * rng.uniform(), q = std::sqrt(1 - z * z);
      return Vec3{len * q * std::cos(ph), len * q * std::sin(ph), len * z};
    };
    s.x.push_back(dir(r));
    // Speed by von Neumann rejection on q^2 (1 - q^2)^3.5, q = v / v_escape.
    double q = 0;
    for (;;) {
      q = rng.uniform();
      if (0.1 * rng.uniform() < q * q * std::pow(1 - q * q, 3.5)) break;
    }
    const double ve = std::sqrt(2.0) * std::pow(1 + r * r / (a * a), -0.25) / std::sqrt(a);
    s.v.push_back(dir(q * ve));
  }
  to_center_of_mass(s);
  return s;
}

void IntegrateOptions::register_flags(CLI::App& app) {
  app.add_option("input", input, "Initial conditions: CSV (m,x,y,z,vx,vy,vz or m,x,y,vx,vy) or JSON");
  app.add_option("--problem", problem, "Or a named problem: figure-eight, pythagorean, kepler, paper:SEED (the RL environment's initial conditions), plummer:N[:SEED]");
  app.add_option("--units", units, "nbody (G = 1) or msun-au-yr (G = 4 pi^2)")->capture_default_str();
  app.add_option("--integrator", integrator, "hermite, leapfrog, ias15 or rk45")->capture_default_str();
  app.add_option("--param", parameter, "hermite: eta (0.03); leapfrog: dt (1e-3); ias15: epsilon (1e-9); rk45: tolerance (1e-10)");
  app.add_option("--policy", policy, "A policy from 'nbody-rl train' chooses eta every --decision-interval (three bodies)");
  app.add_option("--decision-interval", decision_interval, "Time between policy decisions")->capture_default_str();
  app.add_option("--t-end", t_end, "End time")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--output-every", output_every, "Trajectory sampling interval (default: 200 samples)");
  app.add_option("--out", out, "Trajectory: .csv (t,body,x,y,z,vx,vy,vz,energy_error) or .h5 (t, x, v, energy_error)");
  app.add_option("--diagnostics", diagnostics, "Diagnostics JSON (energy, angular momentum, errors, work, wall time)");
  app.add_option("--plot-orbits", plot_orbits, "Orbits in the x-y plane (SVG)");
  app.add_option("--plot-energy", plot_energy, "Relative energy error over time (SVG)");
}

nlohmann::json run_integrate(const IntegrateOptions& o) {
  if (o.input.empty() == o.problem.empty()) throw UsageError("give initial conditions (a file) or --problem, not both");
  System s;
  std::string source = o.input;
  Units u = units_named(o.units);
  if (!o.problem.empty()) {
    source = o.problem;
    if (o.problem.rfind("paper:", 0) == 0) {
      s = paper_initial_conditions(std::stoull(o.problem.substr(6)));
    } else if (o.problem.rfind("plummer:", 0) == 0) {
      const std::string rest = o.problem.substr(8);
      const size_t c = rest.find(':');
      s = plummer_sphere(std::stoi(rest.substr(0, c)), c == std::string::npos ? 0 : std::stoull(rest.substr(c + 1)));
    } else {
      s = named_problem(o.problem);
      s.G = u.G;
    }
  } else {
    s = read_initial_conditions(o.input, u);
  }
  std::unique_ptr<Integrator> integ;
  std::optional<Policy> policy;
  std::map<double, int64_t> chosen;
  if (!o.policy.empty()) {
    policy = load_policy(o.policy);
    if (s.n() != 3) throw UsageError("--policy: the policies read the state of three bodies, the system has " + std::to_string(s.n()));
    integ = make_integrator(o.integrator.empty() ? policy->env.integrator : o.integrator);
  } else {
    integ = make_integrator(o.integrator, o.parameter);
  }
  const double e0 = energy(s);
  const Vec3 l0 = angular_momentum(s), p0 = momentum(s);
  const double dt_out = o.output_every > 0 ? o.output_every : o.t_end / 200;
  std::vector<double> ts, errs;
  std::vector<std::vector<Vec3>> xs, vs;
  auto sample = [&] {
    ts.push_back(s.t);
    xs.push_back(s.x);
    vs.push_back(s.v);
    errs.push_back(std::fabs((energy(s) - e0) / e0));
  };
  sample();
  const EnvOptions env = policy ? policy->env : EnvOptions{};
  auto t0 = std::chrono::steady_clock::now();
  double next_decision = 0;
  double max_err = 0;
  const double t_start = s.t;
  for (int k = 1; s.t < t_start + o.t_end;) {
    check_stop();
    const double t_next = std::min(t_start + o.t_end, t_start + k * dt_out);
    if (policy) {
      while (s.t < t_next) {
        if (s.t >= next_decision) {
          // The state the policy was trained on: positions, velocities and the error so far.
          const double eta = env.actions[policy->choose(observe(s, std::fabs((energy(s) - e0) / e0)))];
          integ->set_parameter(env.parameter_for(eta));
          ++chosen[eta];
          next_decision = s.t + o.decision_interval;
        }
        integ->integrate_to(s, std::min(t_next, next_decision));
      }
    } else {
      integ->integrate_to(s, t_next);
    }
    sample();
    max_err = std::max(max_err, errs.back());
    if (s.t >= t_next) ++k;
  }
  const double wall = seconds_since(t0);
  const Vec3 l1 = angular_momentum(s), p1 = momentum(s);
  double dl = 0, dp = 0;
  for (int k = 0; k < 3; ++k) {
    dl = std::max(dl, std::fabs(l1[k] - l0[k]));
    dp = std::max(dp, std::fabs(p1[k] - p0[k]));
  }
  nlohmann::json d = {{"source", source},
                      {"bodies", s.n()},
                      {"G", s.G},
                      {"integrator", integ->name()},
                      {"parameter", policy ? nlohmann::json("policy") : nlohmann::json(integ->parameter())},
                      {"t_end", s.t},
                      {"energy_initial", e0},
                      {"energy_final", energy(s)},
                      {"relative_energy_error", errs.back()},
                      {"max_relative_energy_error", max_err},
                      {"angular_momentum_initial", l0},
                      {"angular_momentum_change", dl},
                      {"momentum_change", dp},
                      {"steps", integ->stats.steps},
                      {"force_evaluations", integ->stats.force_evaluations},
                      {"rejected_steps", integ->stats.rejected_steps},
                      {"wall_s", wall},
                      {"ns_per_step", integ->stats.steps ? wall * 1e9 / integ->stats.steps : 0.0},
                      {"force_evaluations_per_s", wall > 0 ? integ->stats.force_evaluations / wall : 0.0}};
  if (policy) {
    nlohmann::json c = nlohmann::json::array();
    for (auto [eta, n] : chosen) c.push_back({{"eta", eta}, {"decisions", n}});
    d["policy_choices"] = c;
  }
  d["provenance"] = current_provenance().to_json();
  if (!o.out.empty()) {
    const std::string ext = std::filesystem::path(o.out).extension().string();
    const size_t n = s.n(), T = ts.size();
    if (ext == ".h5" || ext == ".hdf5") {
      std::vector<TensorRecord> recs = {{"t", DType::F64, {static_cast<int64_t>(T)}},
                                        {"x", DType::F64, {static_cast<int64_t>(T), static_cast<int64_t>(n), 3}},
                                        {"v", DType::F64, {static_cast<int64_t>(T), static_cast<int64_t>(n), 3}},
                                        {"energy_error", DType::F64, {static_cast<int64_t>(T)}}};
      FillFn fill = [&](const TensorRecord& r, void* dst) {
        double* p = static_cast<double*>(dst);
        if (r.name == "t") std::copy(ts.begin(), ts.end(), p);
        else if (r.name == "energy_error") std::copy(errs.begin(), errs.end(), p);
        else
          for (size_t i = 0; i < T; ++i)
            for (size_t b = 0; b < n; ++b)
              for (int k = 0; k < 3; ++k) *p++ = (r.name == "x" ? xs : vs)[i][b][k];
      };
      write_tensors(o.out, StoreFormat::hdf5, recs, fill, provenance_metadata());
    } else {
      std::vector<double> cols[9];
      for (size_t i = 0; i < T; ++i)
        for (size_t b = 0; b < n; ++b) {
          double row[9] = {ts[i], static_cast<double>(b), xs[i][b][0], xs[i][b][1], xs[i][b][2], vs[i][b][0], vs[i][b][1], vs[i][b][2], errs[i]};
          for (int c = 0; c < 9; ++c) cols[c].push_back(row[c]);
        }
      Table t;
      t.rows = T * n;
      const char* names[] = {"t", "body", "x", "y", "z", "vx", "vy", "vz", "energy_error"};
      for (int c = 0; c < 9; ++c) t.columns.push_back(numeric_column(names[c], cols[c]));
      write_csv(o.out, t);
    }
  }
  if (!o.diagnostics.empty()) write_json(o.diagnostics, d);
  if (!o.plot_orbits.empty()) {
    std::vector<PlotSeries> series;
    for (size_t b = 0; b < s.n() && b < 12; ++b) {
      PlotSeries ps;
      ps.label = "body " + std::to_string(b + 1);
      for (const auto& x : xs) {
        ps.x.push_back(x[b][0]);
        ps.y.push_back(x[b][1]);
      }
      series.push_back(ps);
    }
    PlotOptions po;
    po.title = "orbits: " + source + " (" + integ->name() + ")";
    po.x_label = "x";
    po.y_label = "y";
    po.equal_aspect = true;
    write_file_atomic(o.plot_orbits, svg_plot(series, po));
  }
  if (!o.plot_energy.empty()) {
    PlotSeries ps;
    ps.label = integ->name();
    for (size_t i = 1; i < ts.size(); ++i) {
      ps.x.push_back(ts[i]);
      ps.y.push_back(std::max(errs[i], 1e-17));
    }
    PlotOptions po;
    po.title = "relative energy error: " + source;
    po.x_label = "t";
    po.y_label = "|E - E0| / |E0|";
    po.log_y = true;
    write_file_atomic(o.plot_energy, svg_plot({ps}, po));
  }
  return d;
}

void EvaluateOptions::register_flags(CLI::App& app) {
  app.add_option("--policy", policy, "A policy from 'nbody-rl train'")->required();
  app.add_option("--integrator", integrator, "Drive another integrator with it (the transfer experiment)");
  app.add_option("--seeds", seeds, "Held-out initial conditions")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--seed-offset", seed_offset, "First held-out seed (training uses seed * 100000 + episode)")->capture_default_str();
  app.add_option("--out", out, "Evaluation report (JSON)")->required();
  app.add_option("--csv", csv, "Per seed and strategy (CSV)");
  app.add_option("--plot", plot, "Energy error vs force evaluations, every strategy (SVG Pareto plot)");
}

nlohmann::json run_evaluate(const EvaluateOptions& o) {
  Policy p = load_policy(o.policy);
  EnvOptions env = p.env;
  if (!o.integrator.empty()) env.integrator = o.integrator;
  // Strategies: the policy, every fixed action, and AMUSE's default eta = 0.03 ("commonly used").
  struct Strategy {
    std::string name;
    int fixed = -1;  // action index; -1 policy; -2 the default eta
  };
  std::vector<Strategy> strategies = {{"policy", -1}};
  for (size_t a = 0; a < env.actions.size(); ++a) strategies.push_back({"eta=" + std::to_string(env.actions[a]).substr(0, 8), static_cast<int>(a)});
  EnvOptions env_default = env;
  env_default.actions.push_back(0.03);
  strategies.push_back({"eta=0.03 (default)", -2});
  std::vector<std::string> c_strategy;
  std::vector<double> c_seed, c_err, c_fe, c_wall, c_steps;
  std::map<std::string, std::vector<double>> log_err, fe, wall, ret;
  for (int k = 0; k < o.seeds; ++k) {
    const uint64_t seed = o.seed_offset + static_cast<uint64_t>(k);
    for (const auto& st : strategies) {
      check_stop();
      ThreeBodyEnv e(st.fixed == -2 ? env_default : env);
      std::vector<double> state = e.reset(seed);
      auto t0 = std::chrono::steady_clock::now();
      StepResult r;
      double total = 0;
      do {
        const int a = st.fixed == -1 ? p.choose(state) : st.fixed == -2 ? static_cast<int>(env_default.actions.size()) - 1 : st.fixed;
        r = e.step(a);
        total += r.reward;
        state = r.state;
      } while (!r.done);
      ret[st.name].push_back(total);
      const double w = seconds_since(t0);
      const double err = std::isfinite(r.energy_error) ? std::max(r.energy_error, 1e-16) : 1.0;
      log_err[st.name].push_back(std::log10(err));
      fe[st.name].push_back(static_cast<double>(e.force_evaluations()));
      wall[st.name].push_back(w);
      c_strategy.push_back(st.name);
      c_seed.push_back(static_cast<double>(seed));
      c_err.push_back(err);
      c_fe.push_back(static_cast<double>(e.force_evaluations()));
      c_wall.push_back(w);
      c_steps.push_back(e.steps_done());
    }
  }
  auto mean = [](const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return v.empty() ? NAN : s / static_cast<double>(v.size());
  };
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? NAN : (v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]));
  };
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& st : strategies) {
    rows.push_back({{"strategy", st.name},
                    {"eta", st.fixed >= 0 ? finite(env.actions[st.fixed]) : st.fixed == -2 ? nlohmann::json(0.03) : nlohmann::json(nullptr)},
                    {"median_energy_error", std::pow(10.0, median(log_err[st.name]))},
                    {"mean_log10_energy_error", mean(log_err[st.name])},
                    {"mean_force_evaluations", mean(fe[st.name])},
                    {"mean_wall_s", mean(wall[st.name])},
                    {"mean_return", mean(ret[st.name])}});
  }
  // Energy error of the fixed-eta front at the policy's cost: log-log interpolation between the fixed
  // strategies whose mean costs bracket the policy's.
  std::vector<std::pair<double, double>> front;
  for (size_t i = 1; i + 1 < strategies.size(); ++i)
    front.push_back({std::log10(mean(fe[strategies[i].name])), mean(log_err[strategies[i].name])});
  std::sort(front.begin(), front.end());
  const double pc = std::log10(mean(fe["policy"]));
  double at_cost = NAN;
  for (size_t i = 0; i + 1 < front.size(); ++i)
    if (front[i].first <= pc && pc <= front[i + 1].first && front[i + 1].first > front[i].first) {
      const double w = (pc - front[i].first) / (front[i + 1].first - front[i].first);
      at_cost = front[i].second + w * (front[i + 1].second - front[i].second);
    }
  // Best fixed eta: the lowest mean log error.
  std::string best;
  double best_err = INFINITY;
  for (size_t i = 1; i + 1 < strategies.size(); ++i)
    if (mean(log_err[strategies[i].name]) < best_err) {
      best_err = mean(log_err[strategies[i].name]);
      best = strategies[i].name;
    }
  nlohmann::json rep = {{"policy", o.policy},
                        {"integrator", env.integrator},
                        {"seeds", o.seeds},
                        {"seed_offset", o.seed_offset},
                        {"strategies", rows},
                        {"policy_mean_log10_error", mean(log_err["policy"])},
                        {"fixed_front_mean_log10_error_at_policy_cost", finite(at_cost)},
                        {"best_fixed", best},
                        {"best_fixed_mean_log10_error", best_err},
                        {"default_eta_mean_log10_error", mean(log_err["eta=0.03 (default)"])},
                        {"provenance", current_provenance().to_json()}};
  write_json(o.out, rep);
  if (!o.csv.empty()) {
    Table t;
    t.rows = c_seed.size();
    t.columns = {categorical_column("strategy", c_strategy), numeric_column("seed", c_seed), numeric_column("energy_error", c_err),
                 numeric_column("force_evaluations", c_fe), numeric_column("wall_s", c_wall), numeric_column("rl_steps", c_steps)};
    write_csv(o.csv, t);
  }
  if (!o.plot.empty()) {
    PlotSeries fixed, pol, def;
    fixed.label = "fixed eta";
    fixed.points = true;
    pol.label = "policy";
    pol.points = true;
    pol.line = false;
    pol.color = 1;
    def.label = "eta = 0.03";
    def.points = true;
    def.line = false;
    def.color = 2;
    std::vector<std::pair<double, double>> f;
    for (size_t i = 1; i + 1 < strategies.size(); ++i)
      f.push_back({mean(fe[strategies[i].name]), std::pow(10.0, mean(log_err[strategies[i].name]))});
    std::sort(f.begin(), f.end());
    for (auto [x, y] : f) {
      fixed.x.push_back(x);
      fixed.y.push_back(y);
    }
    pol.x = {mean(fe["policy"])};
    pol.y = {std::pow(10.0, mean(log_err["policy"]))};
    def.x = {mean(fe["eta=0.03 (default)"])};
    def.y = {std::pow(10.0, mean(log_err["eta=0.03 (default)"]))};
    PlotOptions po;
    po.title = "energy error vs cost, " + std::to_string(o.seeds) + " held-out seeds (" + env.integrator + ")";
    po.x_label = "force evaluations per episode (mean)";
    po.y_label = "|dE/E0| at the end (geometric mean)";
    po.log_x = po.log_y = true;
    write_file_atomic(o.plot, svg_plot({fixed, pol, def}, po));
  }
  return rep;
}

void TrainFlags::register_flags(CLI::App& app) {
  app.add_option("--integrator", integrator, "Integrator the agent drives")->capture_default_str();
  app.add_option("--episodes", config.episodes, "Training episodes")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--cost-weight", cost_weight, "> 0: the reward variant that charges force evaluations (R - w log10 evaluations)");
  app.add_option("--steps", config.env.steps, "RL steps per episode")->capture_default_str();
  app.add_option("--reward-clip", config.env.reward_clip, "> 0: clip rewards to [-c, c] (not in the paper)");
  app.add_option("--step-time", config.env.step_time, "Years per RL step")->capture_default_str();
  app.add_option("--out", config.out, "The trained policy (safetensors)")->required();
  app.add_option("--checkpoint", config.checkpoint, "Checkpoint written every 10 episodes and at the end");
  app.add_flag("--resume", config.resume, "Continue from --checkpoint");
  app.add_option("--stop-after", config.stop_after, "Stop after this many episodes (with a checkpoint)");
  app.add_option("--log-jsonl", config.log, "Per-episode records (JSON Lines)");
  config.dqn.register_flags(app);
}

TrainConfig TrainFlags::resolve(uint64_t seed) const {
  TrainConfig c = config;
  c.env.integrator = integrator;
  c.env.cost_weight = cost_weight;
  c.seed = seed;
  make_integrator(integrator);  // UsageError for unknown names, before any work
  if (c.resume && c.checkpoint.empty()) throw UsageError("--resume needs --checkpoint");
  return c;
}

}  // namespace paramkit::nbody
