// holobeam-sim sweep: a grid of configurations (array sizes x noise levels x budgets), each a Monte
// Carlo of every algorithm; resumable per configuration (--checkpoint, --resume); a JSON report whose
// rows `plot` reads, and optionally the same rows as CSV.
#include <fmt/format.h>

#include <sstream>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/resumable.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/io/csv.h"
#include "paramkit/io/json.h"

using namespace paramkit;

namespace {
std::vector<std::pair<int64_t, int64_t>> parse_sizes(const std::string& text) {
  std::vector<std::pair<int64_t, int64_t>> v;
  std::stringstream ss(text);
  for (std::string t; std::getline(ss, t, ',');) {
    const auto x = t.find('x');
    try {
      size_t a = 0, b = 0;
      const int64_t n1 = std::stoll(t.substr(0, x), &a), n2 = x == std::string::npos ? n1 : std::stoll(t.substr(x + 1), &b);
      if (a != (x == std::string::npos ? t.size() : x) || (x != std::string::npos && b != t.size() - x - 1)) throw std::invalid_argument(t);
      v.push_back({n1, n2});
    } catch (const std::exception&) {
      throw UsageError(fmt::format("--sizes '{}': expected N1xN2 or N, comma-separated", t));
    }
  }
  if (v.empty()) throw UsageError("--sizes: at least one array size");
  return v;
}

struct SweepCommand : cli::Command {
  SweepCommand()
      : Command("sweep", "Monte Carlo over array sizes x noise levels x budgets (resumable); rows for plot",
                "holobeam-sim sweep --sizes 8x8 --sigmas 0.05 --budgets 128,256,512 --trials 200 -o /tmp/sweep.json") {}
  void add_options(CLI::App& app) override {
    app.add_option("--sizes", sizes, "Array sizes N1xN2 (or N for N x N), comma-separated")->capture_default_str();
    app.add_option("--sigmas", sigmas, "Noise levels, comma-separated")->capture_default_str();
    app.add_option("--budgets", budgets, "Pilot budgets, comma-separated")->required();
    app.add_option("--oversample", channel.oversample, "Grid spacing 2 pi / (N x this)")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{64}));
    app.add_option("--noise", channel.noise, "gaussian or lognormal")->capture_default_str()->check(CLI::IsMember({"gaussian", "lognormal"}));
    app.add_option("--snr-db", channel.snr_db, "SNR at the peak gain")->capture_default_str()->check(CLI::Range(-300.0, 300.0));
    app.add_option("--trials", trials, "Trials per configuration")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
    app.add_option("--algorithms", algorithms, "Comma-separated, or all")->capture_default_str();
    app.add_option("--ucbe-a", ucbe_a, "UCB-E's exploration constant")->capture_default_str()->check(CLI::Range(1e-9, 1e9));
    app.add_option("--csv", csv, "Also write the rows as CSV");
    cli::add_checkpointing(app, checkpoint, "configurations");
    cli::add_output(app, out, "Sweep report (JSON)");
  }
  nlohmann::json execute(cli::Context& ctx) override {
    const auto algs = parse_algorithms(algorithms);
    const auto sz = parse_sizes(sizes);
    const std::vector<double> sg = cli::parse_list(sigmas, "--sigmas"), bd = cli::parse_list(budgets, "--budgets");
    struct Config {
      beam::MonteCarloOptions o;
    };
    std::vector<beam::MonteCarloOptions> configs;
    for (const auto& [n1, n2] : sz)
      for (double s : sg)
        for (double b : bd) {
          if (b < 1 || b > 1e12 || b != std::floor(b)) throw UsageError(fmt::format("--budgets {}: whole numbers in [1, 1e12]", b));
          beam::MonteCarloOptions o;
          o.channel = channel;
          o.channel.n1 = n1;
          o.channel.n2 = n2;
          o.channel.sigma = s;
          o.budget = static_cast<int64_t>(b);
          o.trials = trials;
          o.threads = worker_threads(ctx.common.threads);
          o.ucbe_a = ucbe_a;
          o.validate();
          configs.push_back(o);
        }
    nlohmann::json rows = nlohmann::json::array();
    int64_t start = 0;
    if (checkpoint.resuming()) {
      const nlohmann::json j = read_json(checkpoint.path);
      try {
        start = j.at("next").get<int64_t>();
        rows = j.at("rows");
      } catch (const nlohmann::json::exception&) {
        throw InputError(checkpoint.path.string(), "next", "not a holobeam-sim sweep checkpoint");
      }
      if (start > static_cast<int64_t>(configs.size())) throw InputError(checkpoint.path.string(), "next", "written by a larger sweep");
      log::info("resumed from {} at configuration {} of {}", checkpoint.path.string(), start + 1, configs.size());
    }
    auto save = [&](int64_t next) { write_file_atomic(checkpoint.path, nlohmann::json({{"next", next}, {"rows", rows}}).dump()); };
    const LoopOutcome loop = run_resumable(
        checkpoint, start, static_cast<int64_t>(configs.size()),
        [&](int64_t k) {
          const auto& o = configs[static_cast<size_t>(k)];
          std::vector<beam::TrialStats> st;
          try {
            st = beam::monte_carlo(o, algs, ctx.common.seed + static_cast<uint64_t>(k) * 7919);
          } catch (const Interrupted&) {
            if (!checkpoint.path.empty()) save(k);
            throw;
          }
          for (const auto& s : st) {
            nlohmann::json r = beam::to_json(s);
            r["n1"] = o.channel.n1;
            r["n2"] = o.channel.n2;
            r["sigma"] = o.channel.sigma;
            r["budget"] = o.budget;
            rows.push_back(r);
          }
          log::info("{}x{}, sigma {}, budget {}: done", o.channel.n1, o.channel.n2, o.channel.sigma, o.budget);
        },
        save);
    nlohmann::json report = {{"oversample", channel.oversample}, {"noise", channel.noise}, {"snr_db", channel.snr_db}, {"trials", trials},
                             {"configurations", configs.size()}, {"finished", loop.finished}, {"rows", rows}};
    if (!loop.finished) return report;
    check_stop();
    if (!csv.empty()) {
      Table t;
      t.rows = rows.size();
      for (const char* col : {"n1", "n2", "sigma", "budget", "trials", "errors", "p_error", "ci_low", "ci_high", "mean_gain", "mean_rate", "mean_regret"}) {
        std::vector<double> v;
        for (const auto& r : rows) v.push_back(r.at(col).get<double>());
        t.columns.push_back(numeric_column(col, v));
      }
      std::vector<std::string> names;
      for (const auto& r : rows) names.push_back(r.at("algorithm").get<std::string>());
      t.columns.insert(t.columns.begin(), categorical_column("algorithm", names));
      write_csv(csv, t);
    }
    write_report(out, report);
    return report;
  }
  beam::Channel channel;
  std::string sizes = "16x16", sigmas = "0.05", budgets, algorithms = "all", csv, out;
  int64_t trials = 1000;
  double ucbe_a = 1.0;
  CheckpointOptions checkpoint;
};
}  // namespace

void add_sweep(cli::Tool& tool) { tool.add<SweepCommand>(); }
