// stn-tune search: grid search, random search or successive halving over declared hyperparameters,
// each configuration an independent, resumable retrain job of this binary (cli/sweep.h), N at a time;
// DIR/search.json (written last) names the best configuration by validation accuracy, its test accuracy
// and the epochs the search spent.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/cli/sweep.h"
#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/json.h"

using namespace paramkit;
namespace fs = std::filesystem;

namespace {
struct SearchResult {
  nlohmann::json j;
};
void to_json(nlohmann::json& j, const SearchResult& r) { j = r.j; }

struct SearchCommand : cli::TypedCommand<SearchResult> {
  SearchCommand()
      : TypedCommand("search",
                     "Grid search, random search or successive halving: each configuration an independent retrain job, locally in "
                     "parallel and resumable; the flags after -- go to each job (see stn-tune retrain --help)",
                     "stn-tune search --method random --hyper dropout.1=0.05:0:0.9 --configs 3 --epochs 1 --jobs 2 -o /tmp/stn-random -- "
                     "--train-images tests/data/mnist-256-images-idx3-ubyte.gz --train-labels tests/data/mnist-256-labels-idx1-ubyte.gz --hidden 32") {}
  void add_options(CLI::App& app) override {
    app.add_option("--method", method, "grid, random or halving (successive halving over random configurations)")
        ->required()
        ->check(CLI::IsMember({"grid", "random", "halving"}));
    app.add_option("--hyper", hyper, "A hyperparameter and its range: name or name=init:lo:hi (repeatable; the init is not used)")
        ->required()
        ->take_all();
    app.add_option("--points", points, "grid: values per hyperparameter")->capture_default_str()->check(CLI::Range(1, 1000));
    app.add_option("--configs", configs, "random, halving: configurations")->capture_default_str()->check(CLI::Range(1, 100000));
    app.add_option("--epochs", epochs, "grid, random: training epochs per configuration")->capture_default_str()->check(CLI::Range(1, 100000));
    app.add_option("--min-epochs", min_epochs, "halving: epochs of the first round")->capture_default_str()->check(CLI::Range(1, 100000));
    app.add_option("--eta", eta, "halving: keep the best 1/eta each round, training eta times longer")->capture_default_str()->check(CLI::Range(2, 100));
    app.add_option("--max-epochs", max_epochs, "halving: epochs of the last round at most")->capture_default_str()->check(CLI::Range(1, 100000));
    cli::add_sweep_options(app, sweep);
  }
  SearchResult run(cli::Context& ctx) override {
    const auto cat = hpo::catalogue(16, true);
    std::vector<hpo::HyperParam> space;
    for (const auto& h : hyper) {
      space.push_back(hpo::parse_declaration(h, cat));
      for (size_t i = 0; i + 1 < space.size(); ++i)
        if (space[i].name == space.back().name) throw UsageError(fmt::format("--hyper {}: declared twice", space.back().name));
    }
    std::vector<hpo::Config> cfgs = method == "grid" ? hpo::grid(space, points) : hpo::random_configs(space, configs, ctx.common.seed);
    sweep.owned = {"--hyper", "--epochs", "--tuned", "--final"};
    auto retrain = make_retrain_command();
    auto args_of = [&](const hpo::Config& c, int64_t e) {
      std::vector<std::string> a;
      for (size_t i = 0; i < space.size(); ++i) {
        a.push_back("--hyper");
        a.push_back(fmt::format("{}={:.17g}:{:.17g}:{:.17g}", space[i].name, c[i], space[i].lo, space[i].hi));
      }
      a.push_back("--epochs");
      a.push_back(std::to_string(e));
      a.push_back("--seed");
      a.push_back(std::to_string(ctx.common.seed));
      return a;
    };
    auto values_of = [&](const hpo::Config& c) {
      nlohmann::json v = nlohmann::json::object();
      for (size_t i = 0; i < space.size(); ++i) v[space[i].name] = c[i];
      return v;
    };
    nlohmann::json runs = nlohmann::json::array(), rounds = nlohmann::json::array();
    int64_t spent = 0;
    std::vector<size_t> alive(cfgs.size());
    for (size_t i = 0; i < alive.size(); ++i) alive[i] = i;
    const std::vector<hpo::HalvingRound> plan =
        method == "halving" ? hpo::halving_rounds(static_cast<int64_t>(cfgs.size()), min_epochs, eta, max_epochs)
                            : std::vector<hpo::HalvingRound>{{epochs, static_cast<int64_t>(cfgs.size())}};
    int64_t before = 0;
    std::vector<std::pair<double, size_t>> ranked;
    for (size_t r = 0; r < plan.size(); ++r) {
      const int64_t e = plan[r].epochs;
      std::vector<cli::SweepRun> jobs;
      for (size_t k = 0; k < alive.size(); ++k) {
        const size_t i = alive[k];
        const std::string name = method == "halving" ? fmt::format("cfg{:04}-e{}", i, e) : fmt::format("cfg{:04}", i);
        if (method == "halving" && r > 0) {  // continue the previous round's run: its checkpoint, longer
          const fs::path dir = fs::path(sweep.out) / "runs", from = dir / fmt::format("cfg{:04}-e{}.ckpt", i, before), to = dir / (name + ".ckpt");
          if (!fs::exists(dir / (name + ".json")) && !fs::exists(to) && fs::exists(from)) fs::copy_file(from, to);
        }
        jobs.push_back({name, args_of(cfgs[i], e), {{"config", i}, {"epochs", e}, {"values", values_of(cfgs[i])}}});
      }
      const nlohmann::json manifest = cli::run_sweep(*retrain, jobs, sweep, ctx, {"val_accuracy", "test_accuracy"});
      spent += static_cast<int64_t>(alive.size()) * (e - before);
      ranked.clear();
      for (size_t k = 0; k < alive.size(); ++k) {
        nlohmann::json entry = manifest["runs"][k];
        runs.push_back(entry);
        const auto& v = entry["val_accuracy"];
        ranked.push_back({v.is_number() ? v.get<double>() : -1.0, alive[k]});
      }
      // best first; ties by configuration index
      std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
      rounds.push_back({{"epochs", e}, {"configs", alive.size()}});
      before = e;
      if (r + 1 < plan.size()) {
        alive.clear();
        for (int64_t k = 0; k < plan[r + 1].survivors; ++k) alive.push_back(ranked[k].second);
        std::sort(alive.begin(), alive.end());
      }
      check_stop();
    }
    // The best of the last round (for grid and random: of all).
    const size_t best = ranked.front().second;
    nlohmann::json best_entry;
    for (auto it = runs.rbegin(); it != runs.rend(); ++it)
      if ((*it)["config"].get<size_t>() == best) {
        best_entry = *it;
        break;
      }
    nlohmann::json decl = nlohmann::json::array();
    for (const auto& p : space) decl.push_back(hpo::to_json(p));
    nlohmann::json result = {{"method", method}, {"seed", ctx.common.seed}, {"space", decl}, {"configs", cfgs.size()}, {"rounds", rounds},
                             {"epochs_spent", static_cast<double>(spent)}, {"runs", runs}, {"best", best_entry},
                             {"val_accuracy", best_entry["val_accuracy"]}, {"test_accuracy", best_entry["test_accuracy"]}};
    write_report((fs::path(sweep.out) / "search.json").string(), result);
    log::info("{} search: best validation accuracy {} (test {}) with {}, {} epochs spent", method, best_entry["val_accuracy"].dump(),
              best_entry["test_accuracy"].dump(), best_entry["values"].dump(), spent);
    return {result};
  }
  std::string method;
  std::vector<std::string> hyper;
  int64_t points = 3, configs = 8, epochs = 3, min_epochs = 1, eta = 3, max_epochs = 9;
  cli::SweepOptions sweep;
};
}  // namespace

void add_search(cli::Tool& tool) { tool.add<SearchCommand>(); }
