// nbody-rl evaluate: a policy against every fixed eta on held-out seeds; the report (JSON), a row per
// seed and strategy (CSV) and the Pareto plot of energy error against cost (SVG).
#include <algorithm>
#include <cmath>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/io/csv.h"
#include "paramkit/io/json.h"
#include "paramkit/io/svg_plot.h"
#include "paramkit/nbody/evaluate.h"

using namespace paramkit;
using namespace paramkit::nbody;

namespace {

void write_records(const std::string& path, const EvaluationReport& rep) {
  std::vector<std::string> strategy;
  std::vector<double> seed, err, fe, wall, steps;
  for (const auto& r : rep.records) {
    strategy.push_back(r.strategy);
    seed.push_back(static_cast<double>(r.seed));
    err.push_back(r.energy_error);
    fe.push_back(static_cast<double>(r.force_evaluations));
    wall.push_back(r.wall_s);
    steps.push_back(r.rl_steps);
  }
  Table t;
  t.rows = rep.records.size();
  t.columns = {categorical_column("strategy", strategy), numeric_column("seed", seed), numeric_column("energy_error", err),
               numeric_column("force_evaluations", fe), numeric_column("wall_s", wall), numeric_column("rl_steps", steps)};
  write_csv(path, t);
}

// Mean energy error (geometric) against mean force evaluations: the fixed-eta front, the policy and
// the default eta.
void plot_pareto(const std::string& path, const EvaluationReport& rep) {
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
  for (const auto& s : rep.strategies) {
    const double err = std::pow(10.0, s.mean_log10_energy_error);
    if (s.kind == StrategyKind::fixed) f.push_back({s.mean_force_evaluations, err});
    if (s.kind == StrategyKind::policy) pol.x = {s.mean_force_evaluations}, pol.y = {err};
    if (s.kind == StrategyKind::default_eta) def.x = {s.mean_force_evaluations}, def.y = {err};
  }
  std::sort(f.begin(), f.end());
  for (auto [x, y] : f) {
    fixed.x.push_back(x);
    fixed.y.push_back(y);
  }
  PlotOptions po;
  po.title = "energy error vs cost, " + std::to_string(rep.seeds) + " held-out seeds (" + rep.integrator + ")";
  po.x_label = "force evaluations per episode (mean)";
  po.y_label = "|dE/E0| at the end (geometric mean)";
  po.log_x = po.log_y = true;
  write_file_atomic(path, svg_plot({fixed, pol, def}, po));
}

struct EvaluateCommand : cli::TypedCommand<EvaluationReport> {
  EvaluateCommand()
      : TypedCommand("evaluate", "A policy against every fixed eta on held-out seeds (energy error vs cost)",
                     // Two lines: a policy to evaluate first (there is none among the test data).
                     "nbody-rl train --episodes 2 --steps 10 --batch 8 -o /tmp/nbody-policy.safetensors\n"
                     "  nbody-rl evaluate --policy /tmp/nbody-policy.safetensors --seeds 2 -o /tmp/nbody-eval.json --plot /tmp/pareto.svg") {}
  void add_options(CLI::App& app) override {
    app.add_option("--policy", o.policy, "A policy from 'nbody-rl train'")->required();
    app.add_option("--integrator", o.integrator, "Drive another integrator with it (the transfer experiment)");
    app.add_option("--seeds", o.seeds, "Held-out initial conditions (1 to 100000)")->capture_default_str();
    app.add_option("--seed-offset", o.seed_offset, "First held-out seed (training uses seed * 100000 + episode)")->capture_default_str();
    cli::add_output(app, out, "Evaluation report (JSON)");
    cli::add_output_file(app, "--csv", csv, "Per seed and strategy (CSV)");
    cli::add_output_file(app, "--plot", plot, "Energy error vs force evaluations, every strategy (SVG Pareto plot)");
  }
  EvaluationReport run(cli::Context& ctx) override {
    EvaluationReport rep;
    {
      auto t = ctx.timers.scope("evaluate");
      rep = run_evaluation(o);
    }
    write_report(out, rep);
    if (!csv.empty()) write_records(csv, rep);
    if (!plot.empty()) plot_pareto(plot, rep);
    return rep;
  }
  EvaluateOptions o;
  std::string out, csv, plot;
};

}  // namespace

void add_evaluate(cli::Tool& tool) { tool.add<EvaluateCommand>(); }
