// mmsb-fit fit: bridges between adjacent snapshots by IPF with drift regression, stitched trajectories,
// the parametric reference refitted to them, rounds until it settles (--reference brownian: the
// vanilla Schrodinger bridge); held-out snapshots scored by W2 every round. Output folder: report.json
// (the reference per round, held-out W2, errors against --truth), trajectories.csv (stitched paths of
// some particles), field.csv (the fitted reference drift on a grid over the data). Checkpoints per round.
#include <fmt/format.h>

#include <filesystem>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/core/provenance.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/io/csv.h"
#include "paramkit/io/json.h"
#include "paramkit/sb/bridge.h"

using namespace paramkit;

namespace {
struct FitCommand : cli::Command {
  FitCommand()
      : Command("fit", "Fit bridges to snapshots and refine a parametric reference drift; output a folder (report, trajectories, field)",
                "mmsb-fit fit --data tests/data/mmsb/lv.csv --holdout 1,3 --reference lv --rounds 2 --ipf-iterations 3 --dt 0.05 "
                "--truth 1,0.4,0.1,0.4 -o /tmp/lv-fit") {
    o.reference.kind = "lv";
  }
  void add_options(CLI::App& app) override {
    app.add_option("--data", data, "Snapshots: CSV (a time column and coordinates) or .h5/.safetensors (t, x)")->required()->check(CLI::ExistingFile);
    app.add_option("--time-column", time_column, "CSV: the time column")->capture_default_str();
    app.add_option("--columns", columns, "CSV: coordinate columns, comma-separated (default: all but the time)");
    app.add_option("--holdout", holdout, "Snapshot times held out for validation, comma-separated");
    app.add_option("--reference", o.reference.kind, "Reference drift class: brownian (vanilla SB), lv, repressilator, linear, spring, potential")
        ->capture_default_str()
        ->check(CLI::IsMember({"brownian", "lv", "repressilator", "linear", "spring", "potential"}));
    app.add_option("--start", start, "Initial reference parameters, comma-separated (default: the class's)");
    app.add_option("--truth", truth, "The true parameters when known: the report gives the error per round");
    app.add_option("--rounds", o.rounds, "Refinement rounds (brownian: 1)")->capture_default_str()->check(CLI::Range(1, 1000));
    app.add_option("--tolerance", o.tolerance, "Stop when the largest relative parameter change falls below this")->capture_default_str()->check(CLI::Range(0.0, 1e6));
    app.add_option("--sigma", o.bridge.sigma, "Diffusion sigma of the reference SDE")->capture_default_str()->check(CLI::Range(1e-9, 1e6));
    app.add_option("--dt", o.bridge.dt, "Euler-Maruyama step")->capture_default_str()->check(CLI::Range(1e-9, 1e6));
    app.add_option("--ipf-iterations", o.bridge.ipf_iterations, "IPF alternations per bridge")->capture_default_str()->check(CLI::Range(1, 1000));
    app.add_option("--regressor", o.bridge.regressor.kind, "Drift regression: rff (GP by random Fourier features), gp (exact, <= 2000 points), mlp")
        ->capture_default_str()
        ->check(CLI::IsMember({"rff", "gp", "mlp"}));
    app.add_option("--features", o.bridge.regressor.features, "rff: random features")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{100000}));
    app.add_option("--gp-noise", o.bridge.regressor.noise, "rff, gp: noise variance relative to the target's")->capture_default_str()->check(CLI::Range(1e-9, 1e6));
    app.add_option("--lengthscale", o.bridge.regressor.lengthscale, "rff, gp: RBF lengthscale on standardised (x, t) (0: median heuristic)")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 1e6));
    app.add_option("--max-points", o.bridge.regressor.max_points, "Regression points per fit (a seeded subset)")
        ->capture_default_str()
        ->check(CLI::Range(int64_t{10}, int64_t{10000000}));
    app.add_option("--mlp-hidden", o.bridge.regressor.hidden, "mlp: hidden width")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{65536}));
    app.add_option("--mlp-steps", o.bridge.regressor.steps, "mlp: Adam steps per fit")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{10000000}));
    app.add_option("--fit-iters", o.fit_iters, "Nonlinear reference classes: Adam steps per refit")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{10000000}));
    app.add_option("--max-transitions", o.max_transitions, "Trajectory transitions per refit")->capture_default_str()->check(CLI::Range(int64_t{10}, int64_t{100000000}));
    app.add_option("--eval-points", o.eval_points, "Particles per held-out W2")->capture_default_str()->check(CLI::Range(int64_t{2}, int64_t{20000}));
    app.add_option("--potential-hidden", o.reference.hidden, "potential: hidden units")->capture_default_str()->check(CLI::Range(1, 4096));
    app.add_option("--save-paths", save_paths, "Particles per snapshot in trajectories.csv")->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{100000}));
    cli::add_checkpointing(app, o.checkpoint, "rounds");
    cli::add_output(app, out, "Output folder: report.json, trajectories.csv, field.csv");
  }

  nlohmann::json execute(cli::Context& ctx) override {
    o.start = number_list(start, "--start");
    const std::vector<double> truth_v = number_list(truth, "--truth");
    sb::Snapshots train = sb::load_snapshots(data, time_column, columns.empty() ? std::vector<std::string>{} : split_names(columns));
    const sb::Snapshots held = sb::hold_out(train, number_list(holdout, "--holdout"), data);
    train.validate(data + " (training snapshots, after --holdout)", 2);
    for (double t : held.times)
      if (!(t > train.times.front() && t < train.times.back()))
        throw UsageError(fmt::format("--holdout {}: held-out times must lie between the first and last training snapshots", t));
    o.reference.dim = train.dim();
    o.validate();
    if (!truth_v.empty() && static_cast<int64_t>(truth_v.size()) != o.reference.parameters())
      throw UsageError(fmt::format("--truth: {} values for the {} parameters of {}", truth_v.size(), o.reference.parameters(), o.reference.kind));
    const std::filesystem::path dir(out);
    AtomicFolder folder(dir);  // checked before the work: a bad target fails now
    sb::RefineResult r;
    {
      auto timer = ctx.timers.scope("fit");
      r = sb::refine(train, held, o, ctx.common.seed, [&](const sb::RoundRecord& rec) {
        ctx.timers.add("bridges", rec.seconds_bridges);
        ctx.timers.add("heldout_w2", rec.seconds_eval);
        ctx.timers.add("stitch_refit", rec.seconds_refit);
      });
    }
    nlohmann::json rounds = nlohmann::json::array();
    for (const auto& rec : r.rounds) {
      nlohmann::json j = sb::to_json(rec);
      if (!truth_v.empty()) j["max_relative_error"] = json_number(relative_error(rec.theta, truth_v));
      rounds.push_back(j);
    }
    nlohmann::json report = {{"data", data},
                             {"times", train.times},
                             {"heldout_times", held.times},
                             {"reference", o.reference.kind},
                             {"names", o.reference.names()},
                             {"theta", r.theta},
                             {"rounds", rounds},
                             {"converged", r.converged},
                             {"finished", r.finished},
                             {"sigma", o.bridge.sigma},
                             {"dt", o.bridge.dt},
                             {"ipf_iterations", o.bridge.ipf_iterations},
                             {"regressor", o.bridge.regressor.kind}};
    if (!truth_v.empty()) {
      report["truth"] = truth_v;
      report["max_relative_error"] = json_number(relative_error(r.theta, truth_v));
    }
    if (!r.finished) return report;  // --stop-after: the checkpoint holds the run
    check_stop();
    write_report(folder.temp_path() / "report.json", report);
    write_trajectories(folder.temp_path() / "trajectories.csv", r.trajectories, train);
    write_field(folder.temp_path() / "field.csv", r.theta, train);
    folder.commit();
    report["output"] = out;
    return report;
  }

  static std::vector<std::string> split_names(const std::string& text) {
    std::vector<std::string> v;
    std::stringstream ss(text);
    for (std::string t; std::getline(ss, t, ',');)
      if (!t.empty()) v.push_back(t);
    return v;
  }
  static double relative_error(const std::vector<double>& th, const std::vector<double>& truth) {
    if (th.size() != truth.size()) return NAN;
    double e = 0;
    for (size_t i = 0; i < th.size(); ++i) e = std::max(e, std::abs(th[i] - truth[i]) / std::max(1e-12, std::abs(truth[i])));
    return e;
  }
  // particle, t, x1..xd for the first `save_paths` particles of each snapshot.
  void write_trajectories(const std::filesystem::path& path, const sb::Path& p, const sb::Snapshots& train) const {
    Table t;
    const int64_t G = p.x.size(0), n = p.x.size(1), d = p.x.size(2), per = n / std::max<int64_t>(1, train.size());
    std::vector<double> id, time;
    std::vector<std::vector<double>> xs(static_cast<size_t>(d));
    for (int64_t j = 0; j < n; ++j) {
      if (j % per >= save_paths) continue;
      for (int64_t g = 0; g < G; ++g) {
        id.push_back(static_cast<double>(j));
        time.push_back(p.t[static_cast<size_t>(g)]);
        for (int64_t k = 0; k < d; ++k) xs[static_cast<size_t>(k)].push_back(p.x[g][j][k].item<double>());
      }
    }
    t.rows = id.size();
    t.columns.push_back(numeric_column("particle", id));
    t.columns.push_back(numeric_column("t", time));
    for (int64_t k = 0; k < d; ++k) t.columns.push_back(numeric_column(fmt::format("x{}", k + 1), xs[static_cast<size_t>(k)]));
    write_csv(path, t);
  }
  // The fitted reference drift on a 21 x 21 grid over the data's first two coordinates (others at their mean).
  void write_field(const std::filesystem::path& path, const std::vector<double>& theta, const sb::Snapshots& train) const {
    const torch::Tensor all = torch::cat(train.x);
    const int64_t d = all.size(1), m = 21;
    const torch::Tensor lo = std::get<0>(all.min(0)), hi = std::get<0>(all.max(0)), mean = all.mean(0);
    torch::Tensor grid = mean.repeat({d >= 2 ? m * m : m, 1});
    for (int64_t i = 0; i < grid.size(0); ++i) {
      grid[i][0] = lo[0].item<double>() + (hi[0] - lo[0]).item<double>() * static_cast<double>(i % m) / (m - 1);
      if (d >= 2) grid[i][1] = lo[1].item<double>() + (hi[1] - lo[1]).item<double>() * static_cast<double>(i / m) / (m - 1);
    }
    torch::NoGradGuard g;
    const torch::Tensor f = sb::drift(o.reference, torch::tensor(theta, torch::kFloat64), grid);
    Table t;
    t.rows = static_cast<size_t>(grid.size(0));
    for (int64_t k = 0; k < d; ++k) {
      const torch::Tensor c = grid.select(1, k).contiguous(), v = f.select(1, k).contiguous();
      t.columns.push_back(numeric_column(fmt::format("x{}", k + 1), std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel())));
      t.columns.push_back(numeric_column(fmt::format("f{}", k + 1), std::vector<double>(v.data_ptr<double>(), v.data_ptr<double>() + v.numel())));
    }
    write_csv(path, t);
  }

  std::string data, time_column = "t", columns, holdout, start, truth, out;
  sb::RefineOptions o;
  int64_t save_paths = 20;
};
}  // namespace

void add_fit(cli::Tool& tool) { tool.add<FitCommand>(); }
