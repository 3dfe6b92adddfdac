// survfit fit: maximum-likelihood fit of a parametric family with covariates on any parameter.
#include <chrono>
#include <iostream>
#include <map>

#include "commands.h"
#include "data_flags.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/survival/fit.h"
#include "paramkit/survival/report.h"

using namespace paramkit;
using namespace paramkit::survival;

namespace {
struct FitMetrics {
  double loglik = 0, aic = 0;
  int iterations = 0;
  size_t n = 0;
  double read_s = 0, fit_s = 0;
};
void to_json(nlohmann::json& j, const FitMetrics& r) {
  j = {{"loglik", r.loglik}, {"aic", r.aic}, {"iterations", r.iterations}, {"n", r.n}, {"read_s", r.read_s}, {"fit_s", r.fit_s}};
}

struct FitCommand : cli::TypedCommand<FitMetrics> {
  FitCommand()
      : TypedCommand("fit", "Fit a parametric model by maximum likelihood",
                     "survfit fit tests/data/survival/veteran.csv --family weibull --formula 'trt + karno' -o /tmp/weibull.json --table") {}
  void add_options(CLI::App& app) override {
    data.add(app, "CSV with time, status and covariates");
    std::string fams;
    for (const auto& f : families()) fams += (fams.empty() ? "" : ", ") + f.name;
    app.add_option("--family", family, "Distribution: " + fams)->capture_default_str();
    app.add_option("--formula", formula, "Covariates of the family's first parameter (mu, lambda or rate), e.g. 'trt + karno'");
    for (const char* p : {"mu", "scale", "lambda", "phi", "gamma", "kappa", "rate", "shape"})
      app.add_option_function<std::string>(std::string("--") + p, [this, p](const std::string& v) { by_param[p] = v; },
                                            std::string("Covariates of parameter ") + p + " (multi-parameter regression)");
    app.add_option("--fix", fixed, "Fix a parameter on its natural scale: name=value (repeatable), e.g. kappa=1");
    app.add_option("--max-iter", max_iter, "Newton iterations per start")->capture_default_str()->check(CLI::Range(1, 10000));
    app.add_option("--start-rows", start_rows,
                   "Above 200000 rows the starts run on a systematic subsample of this many rows (default max(50000, n/10)) and one "
                   "Newton run on all rows finishes from the best; 0: every start on all rows")
        ->check(CLI::NonNegativeNumber);
    cli::add_output_file(app, "--plot", plot, "Fitted survival over Kaplan-Meier (SVG)");
    app.add_option("--plot-by", plot_by, "Column whose levels get separate curves in --plot");
    cli::add_output(app, out, "Fit report (JSON)");
    cli::add_print(app, print, true, false);
  }

  FitOptions options() const {
    FitOptions o;
    o.family = family;
    const Family& f = find_family(family);
    o.formulas = by_param;
    if (!formula.empty()) {
      const std::string& first = f.params[0].name;
      if (by_param.count(first)) throw UsageError("--formula and --" + first + " both give covariates of " + first);
      o.formulas[first] = formula;
      o.formula_flags[first] = "--formula";
    }
    for (const auto& [p, text] : o.formulas) parse_formula(text, o.formula_flag(p));  // malformed: exit 2 naming the flag
    for (const auto& s : fixed) {
      auto [k, v] = cli::parse_name_value(s, "--fix");
      o.fixed[k] = cli::parse_number(v, "--fix " + k);
    }
    o.max_iter = max_iter;
    if (start_rows >= 0) {
      o.subsample_from = start_rows == 0 ? 0 : o.subsample_from;
      o.subsample_rows = static_cast<size_t>(start_rows);
      o.subsample_fraction = 0;
    }
    return o;
  }

  FitMetrics run(cli::Context&) override {
    FitOptions o = options();
    const DataOptions d_opts = data.options();
    auto t0 = std::chrono::steady_clock::now();
    SurvData d = load_for_fit(data.path, d_opts, o);
    if (!plot_by.empty()) d.rows.col(plot_by);  // a missing --plot-by column: exit 2 before the fit
    auto t1 = std::chrono::steady_clock::now();
    FitResult r = fit_parametric(d, o);
    FitMetrics m;
    m.read_s = std::chrono::duration<double>(t1 - t0).count();
    m.fit_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    if (!r.converged) throw Error(data.path + ": the " + o.family + " fit " + r.message + "; nothing written");
    const std::string svg = plot.empty() ? "" : fit_plot_svg(d, r, plot_by);  // made before any output is written
    check_stop();
    write_report(out, r.report);
    if (!plot.empty()) write_file_atomic(plot, svg);
    if (print.table) std::cout << format_fit(r.report);
    m.loglik = r.loglik;
    m.aic = r.aic;
    m.iterations = r.iterations;
    m.n = d.n();
    return m;
  }

  DataFlags data;
  std::string family = "weibull";
  std::string formula;                          // the family's first parameter (mu, lambda or rate)
  std::map<std::string, std::string> by_param;  // --lambda, --phi, --gamma, --kappa, --mu, --scale, --rate, --shape
  std::vector<std::string> fixed;               // name=value
  int max_iter = 100;
  int64_t start_rows = -1;  // -1: the library's default
  std::string plot, plot_by, out;
  cli::PrintOptions print;
};
}  // namespace

void add_fit(cli::Tool& tool) { tool.add<FitCommand>(); }
