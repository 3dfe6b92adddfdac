// survfit simulate: survival data from a fitted model (for covariate rows) or from a given one.
#include <cmath>
#include <map>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/csv.h"
#include "paramkit/survival/predict.h"
#include "paramkit/survival/report.h"

using namespace paramkit;
using namespace paramkit::survival;

namespace {
struct SimulateMetrics {
  size_t rows = 0;
};
void to_json(nlohmann::json& j, const SimulateMetrics& r) { j = {{"rows", r.rows}}; }

struct SimulateCommand : cli::TypedCommand<SimulateMetrics> {
  SimulateCommand()
      : TypedCommand("simulate", "Simulate survival data from a fitted or given model",
                     "survfit simulate --family apgw --set lambda=0.05 --set phi=0.02 --set gamma=1.5 --set kappa=-0.5 "
                     "--n 500 --admin 400 --seed 3 -o /tmp/sim.csv") {}
  void add_options(CLI::App& app) override {
    app.add_option("data", data_path, "Covariate rows to simulate for (CSV, cycled up to --n)");
    app.add_option("--data", data_path, "Covariate rows (old spelling of the positional argument)")->group("");
    app.add_option("--fit", fit_path, "Simulate from a report of 'survfit fit'");
    std::string fams;
    for (const auto& f : families()) fams += (fams.empty() ? "" : ", ") + f.name;
    app.add_option("--family", family, "Or from a given model of this family (" + fams + ") ...");
    app.add_option("--set", set, "... with these parameter values: name=value (natural scale, repeatable)");
    app.add_option("--n", n, "Rows to simulate (default: one per data row)")
        ->check(CLI::Range(int64_t{0}, static_cast<int64_t>(kMaxSimulatedRows)));
    app.add_option("--censor-uniform", options.censor_uniform, "Random censoring uniform on (0, this)")->check(CLI::NonNegativeNumber);
    app.add_option("--censor-rate", options.censor_rate, "Random exponential censoring with this rate")->check(CLI::NonNegativeNumber);
    app.add_option("--admin", options.admin, "Administrative censoring time")->check(CLI::PositiveNumber);
    cli::add_output(app, out, "Simulated data (CSV: time, status, covariates)");
  }
  SimulateMetrics run(cli::Context& ctx) override {
    Table rows;
    if (!data_path.empty()) rows = read_csv(data_path);
    if (!fit_path.empty() == !family.empty()) throw UsageError("give either --fit or --family (with --set)");
    Model m;
    if (!fit_path.empty()) {
      m = Model::from_report(fit_path);
    } else {
      std::map<std::string, double> values;
      for (const auto& s : set) {
        auto [k, x] = cli::parse_name_value(s, "--set");
        values[k] = cli::parse_number(x, "--set " + k);
      }
      m = given_model(family, values);
    }
    options.seed = ctx.common.seed;
    options.n = static_cast<size_t>(n);
    Table t = simulate(m, rows, options);
    check_stop();
    write_csv(out, t);
    return {t.rows};
  }
  std::string data_path, fit_path, family, out;
  std::vector<std::string> set;  // name=value (natural scale), for --family
  int64_t n = 0;  // --n (signed, so that a negative value is refused rather than wrapped)
  SimulateOptions options;
};
}  // namespace

void add_simulate(cli::Tool& tool) { tool.add<SimulateCommand>(); }
