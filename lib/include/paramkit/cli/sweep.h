// Sweeps: a grid of runs of one subcommand of this tool (e.g. `train`), each an independent job run as
// a subprocess of this binary, N at a time (core/jobs.h), resumable. The folder holds sweep.json (the
// forwarded flags: a rerun must give the same), runs/<name>.json (each run's report), .ckpt (its
// checkpoint), .log (its stderr), and manifest.json, written last. The flags after `--` go to every run;
// they are parsed by the subcommand's own parser before any job starts, and the flags the sweep sets
// per run are refused there.
//
//   std::vector<cli::SweepRun> runs = {{"d100-s0", {"--d", "100", "--seed", "0"}, {{"d", 100}, {"seed", 0}}}, ...};
//   nlohmann::json manifest = cli::run_sweep(*make_train_command(), runs, options, ctx);
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "paramkit/cli/tool.h"

namespace paramkit::cli {

struct SweepRun {
  std::string name;               // runs/<name>.{json,ckpt,log}
  std::vector<std::string> args;  // this run's own flags (its grid point and seed)
  nlohmann::json key;             // the grid point, copied into the manifest
};

struct SweepOptions {
  std::string out;                 // the sweep folder
  std::vector<std::string> flags;  // forwarded to every run (after --)
  int jobs = 0;                    // 0: cores / threads_per_job
  int threads_per_job = 1;
  // Flags the sweep sets per run (besides --seed, --threads, --device, -o, --checkpoint, --resume,
  // --stop-after, --config and every output flag), refused after --.
  std::vector<std::string> owned;
  // Flags that make the forwarded ones parse on their own (the run's required grid flags: {"--d", "1"}).
  std::vector<std::string> placeholder;
};

// The sweep options as flags of a command: --jobs, --threads-per-job, -o and the positional flags after --.
void add_sweep_options(CLI::App& app, SweepOptions& o);

// Runs what is not done yet and returns the manifest: {"runs": [key + "report" + "test_accuracy"...],
// "done_before", "ran", "flags"}. `report_fields`: fields of each report copied into its manifest entry.
nlohmann::json run_sweep(Command& command, const std::vector<SweepRun>& runs, const SweepOptions& o, Context& ctx,
                         const std::vector<std::string>& report_fields = {"test_accuracy"});

}  // namespace paramkit::cli
