// stn-tune tune: one Self-Tuning Network run (the alternating loop of hpo/stn.h) on IDX images; the
// report holds the tuned values, the schedule per epoch, validation and test accuracy and the epochs
// spent; the trajectory per hyperparameter step goes to CSV and a plot.
#include <fmt/format.h>

#include <cmath>
#include <sstream>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/io/json.h"
#include "paramkit/torch/device.h"
#include "paramkit/io/svg_plot.h"

using namespace paramkit;

namespace {
struct TuneReport {
  nlohmann::json j;
};
void to_json(nlohmann::json& j, const TuneReport& r) { j = r.j; }

struct TuneCommand : cli::TypedCommand<TuneReport> {
  TuneCommand()
      : TypedCommand("tune", "Tune hyperparameters with a Self-Tuning Network in one training run; report the schedule found and its accuracy",
                     "stn-tune tune --train-images tests/data/mnist-256-images-idx3-ubyte.gz --train-labels "
                     "tests/data/mnist-256-labels-idx1-ubyte.gz --hidden 32 --hyper dropout.1=0.05 --epochs 3 -o /tmp/stn.json") {}
  void add_options(CLI::App& app) override {
    add_stn_flags(app, flags);
    app.add_option("--epochs", o.epochs, "Weight-training epochs, warm-up included")->capture_default_str()->check(CLI::Range(1, 100000));
    app.add_option("--warmup-epochs", o.warmup_epochs, "Epochs of weight steps before tuning starts")->capture_default_str()->check(CLI::Range(0, 100000));
    app.add_option("--batch-size", o.batch_size, "Mini-batch size (training and validation)")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
    app.add_option("--t-train", o.t_train, "Weight steps per cycle")->capture_default_str()->check(CLI::Range(1, 10000));
    app.add_option("--t-val", o.t_val, "Hyperparameter steps per cycle")->capture_default_str()->check(CLI::Range(1, 10000));
    app.add_option("--lr", o.lr, "Weights' SGD learning rate")->capture_default_str()->check(CLI::Range(1e-12, 10.0));
    app.add_option("--momentum", o.momentum, "Weights' SGD momentum")->capture_default_str()->check(CLI::Range(0.0, 1.0));
    app.add_option("--hyper-lr", o.hyper_lr, "Hyperparameters' and scales' Adam learning rate")->capture_default_str()->check(CLI::Range(1e-12, 10.0));
    app.add_option("--sigma", o.sigma0, "Initial perturbation scale (unconstrained units)")->capture_default_str()->check(CLI::Range(1e-6, 100.0));
    app.add_option("--tau", o.tau, "Entropy weight of the perturbation")->capture_default_str()->check(CLI::Range(0.0, 100.0));
    app.add_flag("!--fixed-scales", o.tune_scales, "Keep the perturbation scales fixed (and the hyper step unperturbed)");
    app.add_option("--record-every", o.record_every, "Hyperparameter steps between trajectory rows")->capture_default_str()->check(CLI::Range(1, 1000000));
    cli::add_checkpointing(app, o.checkpoint, "steps (weight and hyperparameter steps)");
    cli::add_output_file(app, "--trajectory", trajectory, "The hyperparameters and scales per recorded step (CSV)");
    cli::add_output_file(app, "--plot", plot, "The hyperparameters against training epochs (SVG)");
    cli::add_output(app, out, "Report (JSON)");
  }
  TuneReport run(cli::Context& ctx) override {
    o.validate();
    StnData d = load_stn(flags, ctx.common.seed, true);
    const auto& hy = d.spec.hypers;
    torch::manual_seed(ctx.common.seed);
    hpo::StnNet net(d.spec);
    std::vector<double> h0;
    for (const auto& p : hy) h0.push_back(p.unconstrained(p.init));
    nn::HyperState hs(h0, o.sigma0);
    const c10::Device device = parse_device(ctx.common.device);
    net->to(device);
    hs.to(device);
    log::info("tuning {} hyperparameters of an STN {} on {} training and {} validation images", hy.size(), d.spec.model, d.train.size(), d.val.size());
    hpo::TuneResult t;
    {
      auto timer = ctx.timers.scope("tune");
      t = hpo::tune_stn(*net, hs, d.train, d.val, o, ctx.common.seed);
    }
    nlohmann::json r = {{"method", "stn"}, {"spec", hpo::to_json(d.spec)}, {"seed", ctx.common.seed}, {"finished", t.finished},
                        {"units", t.units}, {"weight_steps", t.weight_steps}, {"hyper_steps", t.hyper_steps},
                        {"epochs", o.epochs}, {"epochs_spent", t.epochs_spent}};
    r["options"] = {{"warmup_epochs", o.warmup_epochs}, {"batch_size", o.batch_size}, {"t_train", o.t_train}, {"t_val", o.t_val}, {"lr", o.lr},
                    {"momentum", o.momentum}, {"hyper_lr", o.hyper_lr}, {"sigma", o.sigma0}, {"tau", o.tau}, {"tune_scales", o.tune_scales}};
    if (!t.finished) return {r};  // --stop-after: the checkpoint holds the run
    const nn::EvalResult v = hpo::evaluate_stn(*net, d.val, hs.h.detach()), te = hpo::evaluate_stn(*net, d.test, hs.h.detach());
    nlohmann::json final_values = nlohmann::json::object(), schedule = nlohmann::json::array(), epochs = nlohmann::json::array();
    const auto& last = t.trajectory.back();
    for (size_t i = 0; i < hy.size(); ++i) final_values[hy[i].name] = last.values[i];
    for (const auto& e : t.epochs) {
      schedule.push_back(e.values);
      epochs.push_back(hpo::to_json(e));
    }
    r["final"] = final_values;
    r["sigmas"] = last.sigmas;
    r["schedule"] = schedule;  // values at the end of each epoch: retrain --schedule uses row e in epoch e + 1
    r["epoch_records"] = epochs;
    r["val_accuracy"] = v.accuracy;
    r["val_loss"] = v.loss;
    r["test_accuracy"] = te.accuracy;
    r["test_loss"] = te.loss;
    r["batches_per_epoch"] = t.weight_steps / o.epochs;
    std::string csv, svg;
    const double per_epoch = static_cast<double>(t.weight_steps) / static_cast<double>(o.epochs);
    if (!trajectory.empty()) {
      std::ostringstream s;
      s << "unit,weight_steps,hyper_steps,epoch";
      for (const auto& p : hy) s << "," << p.name;
      for (const auto& p : hy) s << ",sigma." << p.name;
      s << "\n";
      for (const auto& row : t.trajectory) {
        s << row.unit << "," << row.weight_steps << "," << row.hyper_steps << "," << fmt::format("{:.6g}", static_cast<double>(row.weight_steps) / per_epoch);
        for (double x : row.values) s << "," << fmt::format("{:.9g}", x);
        for (double x : row.sigmas) s << "," << fmt::format("{:.9g}", x);
        s << "\n";
      }
      csv = s.str();
    }
    if (!plot.empty()) {
      std::vector<PlotSeries> series;
      for (size_t i = 0; i < hy.size(); ++i) {
        PlotSeries ps;
        ps.label = hy[i].name;
        for (const auto& row : t.trajectory) {
          ps.x.push_back(static_cast<double>(row.weight_steps) / per_epoch);
          ps.y.push_back(row.values[i]);
        }
        series.push_back(ps);
      }
      PlotOptions po;
      po.title = fmt::format("STN hyperparameter schedule ({}, seed {})", d.spec.model, ctx.common.seed);
      po.x_label = "training epoch";
      po.y_label = "value";
      svg = svg_plot(series, po);
    }
    check_stop();
    if (!trajectory.empty()) write_file_atomic(trajectory, csv);
    if (!plot.empty()) write_file_atomic(plot, svg);
    write_report(out, r);
    log::info("validation accuracy {:.4f}, test accuracy {:.4f}, {:.2f} epochs spent", v.accuracy, te.accuracy, t.epochs_spent);
    return {r};
  }
  StnFlags flags;
  hpo::TuneOptions o;
  std::string out, trajectory, plot;
};
}  // namespace

void add_tune(cli::Tool& tool) { tool.add<TuneCommand>(); }
