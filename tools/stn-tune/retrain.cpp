// stn-tune retrain: train the plain network from scratch with fixed hyperparameter values (--hyper
// name=value: a search's job) or with a schedule found by tune (--tuned REPORT: row e in epoch e + 1;
// --final: its final values, fixed), and report validation and test accuracy.
#include <fmt/format.h>

#include <cmath>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/json.h"
#include "paramkit/torch/device.h"

using namespace paramkit;

namespace {
struct RetrainReport {
  nlohmann::json j;
};
void to_json(nlohmann::json& j, const RetrainReport& r) { j = r.j; }

struct RetrainCommand : cli::TypedCommand<RetrainReport> {
  RetrainCommand()
      : TypedCommand("retrain", "Train from scratch with fixed hyperparameter values or a schedule found by tune; report its accuracy",
                     "stn-tune retrain --train-images tests/data/mnist-256-images-idx3-ubyte.gz --train-labels "
                     "tests/data/mnist-256-labels-idx1-ubyte.gz --hidden 32 --hyper dropout.1=0.3 --epochs 3 -o /tmp/stn-fixed.json") {
    train.batch_size = 128;
    train.epochs = 10;
    train.optimizer.name = "sgd";
    train.optimizer.lr = 0.01;
    train.optimizer.momentum = 0.9;
    train.log_every = 0;
  }
  void add_options(CLI::App& app) override {
    add_stn_flags(app, flags, /*hyper_values_only=*/true);
    app.add_option("--tuned", schedule_report, "A tune report: train with its schedule of hyperparameter values (row e in epoch e + 1)")->check(CLI::ExistingFile);
    app.add_flag("--final", use_final, "With --tuned: the report's final values, fixed for every epoch");
    cli::add_training(app, train);
    cli::add_output(app, out, "Report (JSON)");
  }
  RetrainReport run(cli::Context& ctx) override {
    train.validate();
    if (use_final && schedule_report.empty()) throw UsageError("--final needs --tuned REPORT");
    std::vector<std::vector<double>> schedule;
    nlohmann::json tuned;
    if (!schedule_report.empty()) {
      if (!flags.hyper.empty()) throw UsageError("--tuned and --hyper: the tune report names the hyperparameters");
      tuned = read_json(schedule_report);
      if (!tuned.is_object() || tuned.value("method", "") != "stn") throw InputError(schedule_report, "method", "expected a stn-tune tune report");
      const hpo::StnSpec s = hpo::stn_spec_from_json(json_field(tuned, "spec", schedule_report), schedule_report);
      flags.model = s.model;
      flags.hidden = s.model == "mlp" ? s.hidden : std::vector<int64_t>{};
      const auto& rows = json_field(tuned, "schedule", schedule_report);
      const auto& fin = json_field(tuned, "final", schedule_report);
      try {
        if (use_final) {
          std::vector<double> row;
          for (const auto& p : s.hypers) row.push_back(fin.at(p.name).get<double>());
          schedule = {row};
        } else {
          schedule = rows.get<std::vector<std::vector<double>>>();
        }
      } catch (const nlohmann::json::exception&) {
        throw InputError(schedule_report, use_final ? "final" : "schedule", "expected the values of the spec's hyperparameters");
      }
      for (const auto& p : s.hypers) flags.hyper.push_back(p.name + "=" + fmt::format("{:.17g}", p.init) + ":" + fmt::format("{:.17g}", p.lo) + ":" + fmt::format("{:.17g}", p.hi));
      if (schedule.empty()) throw InputError(schedule_report, "schedule", "empty (an unfinished tune run?)");
      for (auto& row : schedule) {
        if (row.size() != s.hypers.size()) throw InputError(schedule_report, "schedule", "a row with the wrong number of values");
        for (size_t i = 0; i < row.size(); ++i)
          if (!std::isfinite(row[i]) || row[i] < s.hypers[i].lo || row[i] > s.hypers[i].hi)
            throw InputError(schedule_report, "schedule", fmt::format("{} = {} is outside its range", s.hypers[i].name, row[i]));
      }
    }
    StnData d = load_stn(flags, ctx.common.seed, false);
    if (schedule.empty()) {
      std::vector<double> row;
      for (const auto& p : d.spec.hypers) row.push_back(p.project(p.init));
      schedule = {row};
    }
    torch::manual_seed(ctx.common.seed);
    hpo::StnNet net(d.spec);
    net->to(parse_device(ctx.common.device));
    nn::TrainResult t;
    {
      auto timer = ctx.timers.scope("train");
      t = hpo::train_fixed(*net, d.train, schedule, train, ctx.common.seed);
    }
    nlohmann::json values = nlohmann::json::object();
    for (size_t i = 0; i < d.spec.hypers.size(); ++i) values[d.spec.hypers[i].name] = schedule.front()[i];
    nlohmann::json r = {{"method", schedule_report.empty() ? "fixed" : (use_final ? "stn-final" : "stn-schedule")},
                        {"spec", hpo::to_json(d.spec)}, {"seed", ctx.common.seed}, {"values", values}, {"schedule", schedule},
                        {"epochs", train.epochs}, {"epochs_spent", static_cast<double>(train.epochs)}, {"steps", t.steps},
                        {"finished", t.finished}, {"last_loss", std::isfinite(t.last_loss) ? nlohmann::json(t.last_loss) : nlohmann::json(nullptr)}};
    if (!schedule_report.empty()) r["from"] = schedule_report;
    if (!t.finished) return {r};
    const nn::EvalResult v = hpo::evaluate_stn(*net, d.val), te = hpo::evaluate_stn(*net, d.test);
    r["val_accuracy"] = v.accuracy;
    r["val_loss"] = v.loss;
    r["test_accuracy"] = te.accuracy;
    r["test_loss"] = te.loss;
    check_stop();
    write_report(out, r);
    return {r};
  }
  StnFlags flags;
  std::string schedule_report, out;
  bool use_final = false;
  nn::TrainOptions train;
};
}  // namespace

void add_retrain(cli::Tool& tool) { tool.add<RetrainCommand>(); }
std::unique_ptr<cli::Command> make_retrain_command() { return std::make_unique<RetrainCommand>(); }
