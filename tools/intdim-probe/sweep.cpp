// intdim-probe sweep: every (d, seed) of the lists as an independent train job, run locally in
// parallel; finished runs are not redone. The folder holds runs/d<d>-s<seed>.{json,ckpt,log} and ends
// with manifest.json, written last. The Snakefile and Makefile in examples/intdim run the same train
// command lines as cluster jobs.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <thread>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/core/jobs.h"
#include "paramkit/core/log.h"
#include "paramkit/core/signals.h"
#include "paramkit/core/subprocess.h"
#include "paramkit/io/json.h"

using namespace paramkit;
namespace fs = std::filesystem;

namespace {
struct SweepResult {
  nlohmann::json manifest;
};
void to_json(nlohmann::json& j, const SweepResult& r) { j = r.manifest; }

// The flags passed on to train, parsed by train's own options now (exit 2 before any job starts).
// Outputs, checkpoints and resume belong to the sweep.
void check_train_flags(const std::vector<std::string>& flags) {
  auto train = make_train_command();
  CLI::App app(train->help(), "intdim-probe train");
  train->add_options(app);
  for (const std::string& f : flags) {
    const std::string name = f.substr(0, f.find('='));
    for (const char* owned : {"--d", "--seed", "--seeds", "--threads", "--device", "--checkpoint", "--resume", "--stop-after", "--config", "-o", "--output"})
      if (name == owned)
        throw UsageError("sweep: " + name + " after -- is the sweep's to set per run (give --d, --seeds, --threads-per-job, --device to sweep itself)");
  }
  std::vector<std::string> args = flags;
  for (const char* a : {"--d", "1", "-o", "sweep-check.json"}) args.emplace_back(a);
  std::reverse(args.begin(), args.end());
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    throw UsageError("sweep: a flag for train: " + cli::shorten_numbers(e.what()));
  }
  // Every output is per run: the sweep names them (runs/d<d>-s<seed>.*).
  for (const CLI::Option* opt : app.get_options())
    if (opt->get_group() == "Outputs" && opt->get_name() != "--output" && opt->count() > 0)
      throw UsageError("sweep: " + opt->get_name() + " is an output of each run, named by the sweep (runs/d<d>-s<seed>.*)");
}

struct SweepCommand : cli::TypedCommand<SweepResult> {
  SweepCommand()
      : TypedCommand("sweep",
                     "Train every (d, seed) as an independent job, locally in parallel; finished runs are not redone. "
                     "The flags after -- go to each train job (see intdim-probe train --help)",
                     "intdim-probe sweep --d 0,20,100 --seeds 0,1 --jobs 2 -o /tmp/intdim-sweep -- --train-images "
                     "tests/data/mnist-256-images-idx3-ubyte.gz --train-labels tests/data/mnist-256-labels-idx1-ubyte.gz --epochs 1") {}
  void add_options(CLI::App& app) override {
    app.add_option("--d", ds, "Subspace dimensions (0: direct training, the baseline)")->required()->delimiter(',')->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
    app.add_option("--seeds", seeds, "Seeds: one run per d and seed (default: --seed)")->delimiter(',')->check(CLI::Range(uint64_t{0}, uint64_t{1} << 62));
    app.add_option("--jobs", jobs, "Runs at a time (default: the cores / --threads-per-job)")->check(CLI::Range(1, 4096));
    app.add_option("--threads-per-job", threads_per_job, "Threads of each run")->capture_default_str()->check(CLI::Range(1, 4096));
    cli::add_output(app, out, "Sweep folder: runs/d<d>-s<seed>.{json,ckpt,log}; manifest.json last");
    app.add_option("train-flags", flags, "After --: the flags of each train job (see intdim-probe train --help)");
  }
  SweepResult run(cli::Context& ctx) override {
    check_train_flags(flags);
    if (seeds.empty()) seeds = {ctx.common.seed};
    std::sort(ds.begin(), ds.end());
    ds.erase(std::unique(ds.begin(), ds.end()), ds.end());
    std::sort(seeds.begin(), seeds.end());
    seeds.erase(std::unique(seeds.begin(), seeds.end()), seeds.end());
    if (ds.size() * seeds.size() > 100000) throw UsageError("--d x --seeds: at most 100000 runs in one sweep");
    const int parallel = jobs > 0 ? jobs : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / threads_per_job);

    // The folder belongs to one sweep: the train flags are recorded and a rerun must give the same ones.
    const fs::path dir(out), runs_dir = dir / "runs", config_path = dir / "sweep.json";
    const nlohmann::json config = {{"train_flags", flags}, {"device", ctx.common.device}};
    if (fs::exists(config_path)) {
      const nlohmann::json old = read_json(config_path);
      if (old != config)
        throw UsageError(fmt::format("{}: this folder holds a sweep with other train flags ({}); use another -o", config_path.string(),
                                     old.value("train_flags", nlohmann::json::array()).dump()));
    } else if (fs::exists(dir) && !fs::is_empty(dir)) {
      throw UsageError(out + ": exists and is not a sweep folder (no sweep.json)");
    }
    fs::create_directories(runs_dir);
    if (!fs::exists(config_path)) write_json(config_path, config);
    fs::remove(dir / "manifest.json");  // the manifest marks a complete sweep

    const std::string self = self_executable().string();
    std::vector<Job> list;
    std::vector<std::pair<int64_t, uint64_t>> keys;
    // Largest d first: the longest runs start early, and a d beyond the model's size fails at once.
    for (auto d = ds.rbegin(); d != ds.rend(); ++d)
      for (uint64_t s : seeds) {
        const std::string name = fmt::format("d{}-s{}", *d, s);
        Job j;
        j.name = name;
        j.output = runs_dir / (name + ".json");
        j.log = runs_dir / (name + ".log");
        j.argv = {self, "train"};
        j.argv.insert(j.argv.end(), flags.begin(), flags.end());
        for (const std::string& a : {std::string("--d"), std::to_string(*d), std::string("--seed"), std::to_string(s), std::string("--threads"),
                                     std::to_string(threads_per_job), std::string("--device"), ctx.common.device, std::string("-o"),
                                     j.output.string(), std::string("--checkpoint"), (runs_dir / (name + ".ckpt")).string(), std::string("--resume")})
          j.argv.push_back(a);
        list.push_back(j);
        keys.emplace_back(*d, s);
      }
    log::info("{} runs ({} d x {} seeds), {} at a time, {} thread(s) each", list.size(), ds.size(), seeds.size(), parallel, threads_per_job);
    size_t finished = 0;
    JobsResult r;
    {
      auto timer = ctx.timers.scope("runs");
      r = run_jobs(list, parallel, [&](const Job& job, size_t) { log::info("[{}] {} done", ++finished, job.name); });
    }
    check_stop();
    nlohmann::json manifest = {{"runs", nlohmann::json::array()}, {"done_before", r.done_before}, {"ran", r.ran}, {"train_flags", flags}};
    for (size_t i = 0; i < list.size(); ++i) {
      const nlohmann::json rep = read_json(list[i].output);
      manifest["runs"].push_back({{"d", keys[i].first},
                                  {"seed", keys[i].second},
                                  {"report", fs::relative(list[i].output, dir).string()},
                                  {"test_accuracy", rep.value("test_accuracy", nlohmann::json())}});
    }
    write_report((dir / "manifest.json").string(), manifest);
    log::info("{}: {} runs ({} were done before); summarize with: intdim-probe summarize {}/runs/*.json", out, list.size(), r.done_before, out);
    return {manifest};
  }
  std::vector<std::string> flags;
  std::vector<int64_t> ds;
  std::vector<uint64_t> seeds;
  int jobs = 0, threads_per_job = 1;
  std::string out;
};
}  // namespace

void add_sweep(cli::Tool& tool) { tool.add<SweepCommand>(); }
