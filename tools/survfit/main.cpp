// survfit: parametric survival regression (APGW family, PH/AFT/multi-parameter regression), Kaplan-
// Meier, Cox PH, predictions, simulation and likelihood-ratio tests on CSV data.
#include <chrono>
#include <cmath>
#include <iostream>
#include <map>

#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/provenance.h"
#include "paramkit/core/run.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/io/csv.h"
#include "paramkit/io/json.h"
#include "paramkit/survival/fit.h"
#include "paramkit/survival/nonparam.h"
#include "paramkit/survival/plot.h"
#include "paramkit/survival/predict.h"
#include "paramkit/survival/commands.h"

using namespace paramkit;
using namespace paramkit::survival;

int main(int argc, char** argv) {
  Tool tool("survfit",
            "Flexible parametric survival analysis (APGW family, PH/AFT/multi-parameter regression), Kaplan-Meier, "
            "Cox PH, predictions and simulation, with R-compatible numbers.",
            "survfit fit tests/data/survival/veteran.csv --family weibull --formula 'trt + karno' --out /tmp/weibull.json --table");
  CLI::App& app = tool.app();
  app.require_subcommand(1);
  app.fallthrough();  // common flags (-q, --seed, --metrics) also after the subcommand

  // Data options shared by the subcommands that read survival data.
  std::string data_path;
  DataOptions data_opts;
  std::string out;
  bool table = false;

  FitCommand fitc;
  auto* fit = app.add_subcommand("fit", "Fit a parametric model by maximum likelihood");
  fit->add_option("data", data_path, "CSV with time, status and covariates")->required();
  data_opts.register_flags(*fit);
  fitc.register_flags(*fit);
  fit->add_option("--out", out, "Fit report (JSON)")->required();
  fit->add_flag("--table", table, "Print a readable summary on stdout");

  std::string km_by, km_csv, km_plot, km_times_s;
  auto* km = app.add_subcommand("km", "Kaplan-Meier estimate with Greenwood confidence intervals and the median");
  km->add_option("data", data_path, "CSV with time and status")->required();
  data_opts.register_flags(*km);
  km->add_option("--by", km_by, "Separate curves per level of this column");
  km->add_option("--times", km_times_s, "Report S(t) at these times (comma-separated)");
  km->add_option("--out", out, "Report (JSON)")->required();
  km->add_option("--csv", km_csv, "The survival table as CSV");
  km->add_option("--plot", km_plot, "Plot of the curves (SVG)");
  km->add_flag("--table", table, "Print a readable summary on stdout");

  std::string cox_formula, ties = "efron";
  auto* cox = app.add_subcommand("cox", "Cox proportional hazards (Efron or Breslow ties) with the concordance index");
  cox->add_option("data", data_path, "CSV with time, status and covariates")->required();
  data_opts.register_flags(*cox);
  cox->add_option("--formula", cox_formula, "Covariates, e.g. 'trt + karno + factor(celltype)'")->required();
  cox->add_option("--ties", ties, "efron (R's default) or breslow")->capture_default_str();
  cox->add_option("--out", out, "Report (JSON)")->required();
  cox->add_flag("--table", table, "Print a readable summary on stdout");

  std::string fit_path, pred_times_s, pred_q_s, id_col;
  auto* pred = app.add_subcommand("predict", "S(t), h(t), H(t) and quantiles of a fitted model for new rows");
  pred->add_option("--fit", fit_path, "A report of 'survfit fit'")->required();
  pred->add_option("data", data_path, "CSV of covariate rows")->required();
  pred->add_option("--times", pred_times_s, "Times (comma-separated)");
  pred->add_option("--quantiles", pred_q_s, "Failure fractions, e.g. 0.5 for the median (comma-separated)");
  pred->add_option("--id", id_col, "Column copied to the output to identify rows");
  pred->add_option("--out", out, "Predictions (CSV)")->required();

  SimulateCommand simc;
  auto* sim = app.add_subcommand("simulate", "Simulate survival data from a fitted or given model");
  simc.register_flags(*sim);
  sim->add_option("--data", data_path, "Covariate rows to simulate for (cycled up to --n)");
  sim->add_option("--out", out, "Simulated data (CSV: time, status, covariates)")->required();

  std::string full_path, nested_path;
  auto* lrt = app.add_subcommand("lrt", "Likelihood-ratio test of a nested fit (e.g. kappa fixed at 1) against a fuller one");
  lrt->add_option("full", full_path, "Report of the fuller fit")->required();
  lrt->add_option("nested", nested_path, "Report of the nested fit")->required();
  lrt->add_option("--out", out, "Report (JSON)");

  return tool.run(argc, argv, [&](RunContext& ctx) -> int {
    auto with_provenance = [&](nlohmann::json j) {
      j["provenance"] = current_provenance().to_json();
      return j;
    };
    if (*fit) {
      FitOptions o = fitc.options();
      auto t0 = std::chrono::steady_clock::now();
      SurvData d = load_for_fit(data_path, data_opts, o);
      auto t1 = std::chrono::steady_clock::now();
      FitResult r = fit_parametric(d, o);
      const double read_s = std::chrono::duration<double>(t1 - t0).count();
      const double fit_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
      if (!r.converged) throw Error(data_path + ": the " + o.family + " fit did not converge (" + r.report["message"].get<std::string>() +
                                    "); nothing written");
      write_json(out, with_provenance(r.report));
      if (!fitc.plot.empty()) write_file_atomic(fitc.plot, fit_plot_svg(d, r, fitc.plot_by));
      if (table) std::cout << format_fit(r.report);
      ctx.results = {{"loglik", r.loglik}, {"aic", r.report["aic"]}, {"iterations", r.report["iterations"]}, {"n", d.n()},
                     {"read_s", read_s}, {"fit_s", fit_s}};
      return 0;
    }
    if (*km) {
      nlohmann::json rep = run_km(data_path, data_opts, km_by, parse_list(km_times_s, "--times"));
      write_json(out, with_provenance(rep));
      if (!km_csv.empty()) write_csv(km_csv, km_table(rep));
      if (!km_plot.empty()) write_file_atomic(km_plot, km_plot_svg(rep, data_path));
      if (table) std::cout << format_km(rep);
      ctx.results = {{"groups", rep["curves"].size()}};
      return 0;
    }
    if (*cox) {
      Formula f = parse_formula(cox_formula, "--formula");
      SurvData d = load_data(data_path, data_opts, f.columns(), false);
      resolve_formula(f, d.rows, data_opts.ref_map());
      CoxOptions co;
      co.ties = ties;
      co.conf = data_opts.conf;
      nlohmann::json rep = fit_cox(d, f, co);
      if (!rep["converged"].get<bool>()) throw Error(data_path + ": the Cox fit did not converge; nothing written");
      write_json(out, with_provenance(rep));
      if (table) std::cout << format_cox(rep);
      ctx.results = {{"loglik", rep["loglik"]}, {"concordance", rep["concordance"]["c"]}};
      return 0;
    }
    if (*pred) {
      Model m = Model::from_report(fit_path);
      PredictOptions po;
      po.times = parse_list(pred_times_s, "--times");
      po.quantiles = parse_list(pred_q_s, "--quantiles");
      po.id_column = id_col;
      if (po.times.empty() && po.quantiles.empty()) throw UsageError("give --times and/or --quantiles");
      Table rows = read_csv(data_path);
      write_csv(out, predict(m, rows, po));
      ctx.results = {{"rows", rows.rows}};
      return 0;
    }
    if (*sim) {
      Table rows;
      if (!data_path.empty()) rows = read_csv(data_path);
      Table t = simc.run(rows, ctx.common.seed);
      write_csv(out, t);
      ctx.results = {{"rows", t.rows}};
      return 0;
    }
    nlohmann::json full = read_json(full_path), nested = read_json(nested_path);
    nlohmann::json rep = likelihood_ratio(full, nested);
    rep["full"] = full_path;
    rep["nested"] = nested_path;
    if (!out.empty()) write_json(out, with_provenance(rep));
    std::cout << rep.dump(2) << "\n";
    ctx.results = rep;
    return 0;
  });
}
