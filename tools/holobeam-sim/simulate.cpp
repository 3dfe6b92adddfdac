// holobeam-sim simulate: one configuration, every algorithm on the same receivers and noise: error
// probability (Wilson 95% interval), mean normalised RSS, rate and regret.
#include <fmt/format.h>

#include <sstream>
#include <thread>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/io/json.h"

using namespace paramkit;

void add_channel_flags(CLI::App& app, beam::Channel& c) {
  app.add_option("--n1", c.n1, "Elements along the first axis")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{4096}));
  app.add_option("--n2", c.n2, "Elements along the second axis")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{4096}));
  app.add_option("--oversample", c.oversample, "Grid spacing 2 pi / (N x this); 1 is the paper's grid (unimodal)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{64}));
  app.add_option("--noise", c.noise, "gaussian (on the RSS normalised to a peak of 1) or lognormal (shadowing, sigma in dB)")
      ->capture_default_str()
      ->check(CLI::IsMember({"gaussian", "lognormal"}));
  app.add_option("--sigma", c.sigma, "Noise level (gaussian: std relative to the peak RSS; lognormal: dB)")->capture_default_str()->check(CLI::Range(0.0, 1e6));
  app.add_option("--snr-db", c.snr_db, "SNR at the peak gain, for the achieved rate log2(1 + snr g)")->capture_default_str()->check(CLI::Range(-300.0, 300.0));
}

std::vector<std::string> parse_algorithms(const std::string& text) {
  if (text == "all") return beam::algorithm_names();
  std::vector<std::string> v;
  std::stringstream ss(text);
  for (std::string t; std::getline(ss, t, ',');) {
    if (t.empty()) continue;
    beam::make_algorithm(t);
    v.push_back(t);
  }
  if (v.empty()) throw UsageError("--algorithms: at least one");
  return v;
}

int worker_threads(int threads) { return threads > 0 ? threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency())); }

namespace {
struct SimulateCommand : cli::Command {
  SimulateCommand()
      : Command("simulate", "Monte Carlo of one configuration: error probability, RSS, rate and regret per algorithm",
                "holobeam-sim simulate --n1 8 --n2 8 --sigma 0.05 --budget 512 --trials 500 -o /tmp/holobeam.json") {}
  void add_options(CLI::App& app) override {
    add_channel_flags(app, o.channel);
    app.add_option("--budget", o.budget, "Pilots per trial")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
    app.add_option("--trials", o.trials, "Independent trials")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
    app.add_option("--algorithms", algorithms, "Comma-separated, or all: holobeam, uniform, sr, sh, sr-1d, sh-1d, ucbe, exhaustive")->capture_default_str();
    app.add_option("--ucbe-a", o.ucbe_a, "UCB-E's exploration a = this x budget / arms")->capture_default_str()->check(CLI::Range(1e-9, 1e9));
    cli::add_print(app, print, true, false);
    cli::add_output(app, out, "Report (JSON)", false);
  }
  nlohmann::json execute(cli::Context& ctx) override {
    o.threads = worker_threads(ctx.common.threads);
    const auto algs = parse_algorithms(algorithms);
    if (static_cast<double>(o.trials) * static_cast<double>(o.budget) * static_cast<double>(algs.size()) > 1e13)
      throw UsageError("--trials x --budget x algorithms above 1e13 pilots: split the run (sweep)");
    std::vector<beam::TrialStats> stats;
    {
      auto timer = ctx.timers.scope("monte_carlo");
      stats = beam::monte_carlo(o, algs, ctx.common.seed);
    }
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& s : stats) rows.push_back(beam::to_json(s));
    const nlohmann::json r = {{"n1", o.channel.n1}, {"n2", o.channel.n2}, {"oversample", o.channel.oversample}, {"noise", o.channel.noise},
                              {"sigma", o.channel.sigma}, {"snr_db", o.channel.snr_db}, {"budget", o.budget}, {"trials", o.trials},
                              {"results", rows}};
    if (!out.empty()) write_report(out, r);
    if (print.table) {
      fmt::print("{:<11} {:>9} {:>19} {:>9} {:>9} {:>9}\n", "algorithm", "P(error)", "95% interval", "RSS", "rate", "regret");
      for (const auto& s : stats)
        fmt::print("{:<11} {:>9.4f} [{:>7.4f}, {:>7.4f}] {:>9.4f} {:>9.3f} {:>9.4f}\n", s.algorithm, s.p_error, s.ci_low, s.ci_high, s.mean_gain,
                   s.mean_rate, s.mean_regret);
    }
    return r;
  }
  beam::MonteCarloOptions o;
  std::string algorithms = "all", out;
  cli::PrintOptions print;
};
}  // namespace

void add_simulate(cli::Tool& tool) { tool.add<SimulateCommand>(); }
