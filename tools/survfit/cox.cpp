// survfit cox: Cox proportional hazards (Efron or Breslow ties) with the concordance index.
#include <iostream>

#include "commands.h"
#include "data_flags.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"
#include "paramkit/survival/nonparam.h"
#include "paramkit/survival/report.h"

using namespace paramkit;
using namespace paramkit::survival;

namespace {
struct CoxMetrics {
  double loglik = 0, concordance = 0;
};
void to_json(nlohmann::json& j, const CoxMetrics& r) { j = {{"loglik", r.loglik}, {"concordance", r.concordance}}; }

struct CoxCommand : cli::TypedCommand<CoxMetrics> {
  CoxCommand()
      : TypedCommand("cox", "Cox proportional hazards (Efron or Breslow ties) with the concordance index",
                     "survfit cox tests/data/survival/veteran.csv --formula 'trt + karno + factor(celltype)' -o /tmp/cox.json --table") {}
  void add_options(CLI::App& app) override {
    data.add(app, "CSV with time, status and covariates");
    app.add_option("--formula", formula, "Covariates, e.g. 'trt + karno + factor(celltype)'; strata(x) for a baseline hazard per level of x")->required();
    app.add_option("--ties", options.ties, "efron (R's default) or breslow")->capture_default_str();
    cli::add_output(app, out, "Report (JSON)");
    cli::add_print(app, print, true, false);
  }
  CoxMetrics run(cli::Context&) override {
    Formula f = parse_formula(formula, "--formula");
    const DataOptions d_opts = data.options();
    SurvData d = load_data(data.path, d_opts, f.columns(), false);
    resolve_formula(f, d.rows, d_opts.refs);
    options.conf = d_opts.conf;
    CoxResult r = fit_cox(d, f, options);
    if (!r.converged) throw Error(data.path + ": the Cox fit did not converge; nothing written");
    check_stop();  // a signal during the fit: no outputs
    write_report(out, r);
    if (print.table) std::cout << format_cox(r);
    return {r.loglik, r.concordance.c()};
  }
  DataFlags data;
  std::string formula, out;
  CoxOptions options;
  cli::PrintOptions print;
};
}  // namespace

void add_cox(cli::Tool& tool) { tool.add<CoxCommand>(); }
