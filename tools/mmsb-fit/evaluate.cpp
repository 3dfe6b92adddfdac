// mmsb-fit evaluate: the fitted reference as a mechanistic model: its SDE simulated from the earliest
// snapshot of a data file to every later snapshot time, W2 to each (exact optimal transport), and the
// parameters against the truth when given.
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/json.h"
#include "paramkit/ot/emd.h"
#include "paramkit/sb/bridge.h"

using namespace paramkit;

namespace {
struct EvaluateCommand : cli::Command {
  EvaluateCommand()
      : Command("evaluate", "Simulate the fitted reference from the first snapshot and score every later snapshot by W2",
                "mmsb-fit evaluate tests/data/mmsb/lv-fit --data tests/data/mmsb/lv.csv -o /tmp/lv-eval.json") {}
  void add_options(CLI::App& app) override {
    app.add_option("fit", fit_dir, "A fit's output folder (mmsb-fit fit -o)")->required()->check(CLI::ExistingDirectory);
    app.add_option("--data", data, "Snapshots to score (the first one starts the simulation)")->required()->check(CLI::ExistingFile);
    app.add_option("--time-column", time_column, "CSV: the time column")->capture_default_str();
    app.add_option("--points", points, "Particles simulated and compared per time")->capture_default_str()->check(CLI::Range(int64_t{2}, int64_t{20000}));
    app.add_option("--dt", dt, "Euler-Maruyama step (default: the fit's)")->check(CLI::Range(1e-9, 1e6));
    cli::add_output(app, out, "Report (JSON)");
  }
  nlohmann::json execute(cli::Context& ctx) override {
    const std::string rp = (std::filesystem::path(fit_dir) / "report.json").string();
    const nlohmann::json rep = read_json(rp);
    sb::DriftClass c;
    std::vector<double> theta;
    double sigma = 0, fit_dt = 0;
    try {
      c.kind = rep.at("reference").get<std::string>();
      theta = rep.at("theta").get<std::vector<double>>();
      sigma = rep.at("sigma").get<double>();
      fit_dt = rep.at("dt").get<double>();
    } catch (const nlohmann::json::exception&) {
      throw InputError(rp, "reference/theta/sigma/dt", "missing or malformed: not an mmsb-fit fit report");
    }
    const sb::Snapshots s = sb::load_snapshots(data, time_column);
    c.dim = s.dim();
    if (c.kind == "potential") c.hidden = static_cast<int64_t>(theta.size()) / (c.dim + 2);
    c.validate();
    if (static_cast<int64_t>(theta.size()) != c.parameters()) throw InputError(rp, "theta", fmt::format("{} values for {} in {} dimensions", theta.size(), c.kind, c.dim));
    const double h = dt > 0 ? dt : fit_dt;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(ctx.common.seed);
    const torch::Tensor th = torch::tensor(theta, torch::kFloat64);
    torch::Tensor x = s.x[0].narrow(0, 0, std::min(points, s.x[0].size(0)));
    nlohmann::json rows = nlohmann::json::array();
    double total = 0;
    for (size_t k = 1; k < s.times.size(); ++k) {
      check_stop();
      x = sb::simulate(c, th, x, s.times[k - 1], s.times[k], h, sigma, gen).x[-1].contiguous();
      const torch::Tensor y = s.x[k].narrow(0, 0, std::min(points, s.x[k].size(0))).contiguous();
      const double w = torch::isfinite(x).all().item<bool>() ? ot::w2(x.data_ptr<double>(), x.size(0), y.data_ptr<double>(), y.size(0), x.size(1)) : NAN;
      rows.push_back({{"t", s.times[k]}, {"w2", std::isfinite(w) ? nlohmann::json(w) : nlohmann::json(nullptr)}});
      total += w;
    }
    nlohmann::json r = {{"fit", fit_dir}, {"data", data}, {"reference", c.kind}, {"theta", theta}, {"names", c.names()}, {"per_time", rows}};
    const double mean = total / static_cast<double>(s.times.size() - 1);
    r["mean_w2"] = std::isfinite(mean) ? nlohmann::json(mean) : nlohmann::json(nullptr);
    if (rep.contains("truth")) r["truth"] = rep["truth"], r["max_relative_error"] = rep["max_relative_error"];
    write_report(out, r);
    return r;
  }
  std::string fit_dir, data, time_column = "t", out;
  int64_t points = 1000;
  double dt = 0;
};
}  // namespace

void add_evaluate(cli::Tool& tool) { tool.add<EvaluateCommand>(); }
