// survfit predict: S(t), h(t), H(t) and failure-time quantiles of a fitted model for new covariate rows.
#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/csv.h"
#include "paramkit/survival/predict.h"

using namespace paramkit;
using namespace paramkit::survival;

namespace {
struct PredictMetrics {
  size_t rows = 0;
};
void to_json(nlohmann::json& j, const PredictMetrics& r) { j = {{"rows", r.rows}}; }

struct PredictCommand : cli::TypedCommand<PredictMetrics> {
  PredictCommand()
      : TypedCommand("predict", "S(t), h(t), H(t) and quantiles of a fitted model for new rows",
                     "survfit predict --fit tests/data/survival/veteran-weibull.json tests/data/survival/veteran.csv --times 30,100 "
                     "--quantiles 0.5 -o /tmp/pred.csv") {}
  void add_options(CLI::App& app) override {
    app.add_option("--fit", fit_path, "A report of 'survfit fit'")->required();
    app.add_option("data", data_path, "CSV of covariate rows")->required();
    app.add_option("--times", times, "Times (comma-separated)");
    app.add_option("--quantiles", quantiles, "Failure fractions, e.g. 0.5 for the median (comma-separated)");
    app.add_option("--id", options.id_column, "Column copied to the output to identify rows");
    cli::add_output(app, out, "Predictions (CSV)");
  }
  PredictMetrics run(cli::Context&) override {
    options.times = cli::parse_list(times, "--times");
    options.quantiles = cli::parse_list(quantiles, "--quantiles");
    if (options.times.empty() && options.quantiles.empty()) throw UsageError("give --times and/or --quantiles");
    options.validate();  // the flags before any file is read
    Model m = Model::from_report(fit_path);
    Table rows = read_csv(data_path);
    Table pred = predict(m, rows, options);
    check_stop();
    write_csv(out, pred);
    return {rows.rows};
  }
  std::string fit_path, data_path, times, quantiles, out;
  PredictOptions options;
};
}  // namespace

void add_predict(cli::Tool& tool) { tool.add<PredictCommand>(); }
