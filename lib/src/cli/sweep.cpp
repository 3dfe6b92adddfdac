#include "paramkit/cli/sweep.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <thread>

#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/core/jobs.h"
#include "paramkit/core/log.h"
#include "paramkit/core/signals.h"
#include "paramkit/core/subprocess.h"
#include "paramkit/io/json.h"

namespace paramkit::cli {
namespace fs = std::filesystem;

void add_sweep_options(CLI::App& app, SweepOptions& o) {
  app.add_option("--jobs", o.jobs, "Runs at a time (default: the cores / --threads-per-job)")->check(CLI::Range(1, 4096));
  app.add_option("--threads-per-job", o.threads_per_job, "Threads of each run")->capture_default_str()->check(CLI::Range(1, 4096));
  add_output(app, o.out, "Sweep folder: runs/<name>.{json,ckpt,log}; manifest.json last");
  app.add_option("forwarded-flags", o.flags, "After --: the flags of every run");
}

namespace {
void check_flags(Command& command, const SweepOptions& o) {
  std::vector<std::string> owned = {"--seed", "--threads", "--device", "--checkpoint", "--resume", "--stop-after", "--config", "-o", "--output"};
  owned.insert(owned.end(), o.owned.begin(), o.owned.end());
  for (const std::string& f : o.flags) {
    const std::string name = f.substr(0, f.find('='));
    if (std::find(owned.begin(), owned.end(), name) != owned.end())
      throw UsageError("sweep: " + name + " after -- is the sweep's to set per run");
  }
  CLI::App app(command.help(), command.name());
  command.add_options(app);
  std::vector<std::string> args = o.flags;
  args.insert(args.end(), o.placeholder.begin(), o.placeholder.end());
  for (const char* a : {"-o", "sweep-check.json"}) args.emplace_back(a);
  std::reverse(args.begin(), args.end());
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    throw UsageError("sweep: a flag for " + command.name() + ": " + shorten_numbers(e.what()));
  }
  for (const CLI::Option* opt : app.get_options())
    if (opt->get_group() == "Outputs" && opt->get_name() != "--output" && opt->count() > 0)
      throw UsageError("sweep: " + opt->get_name() + " is an output of each run, named by the sweep (runs/<name>.*)");
}
}  // namespace

nlohmann::json run_sweep(Command& command, const std::vector<SweepRun>& runs, const SweepOptions& o, Context& ctx,
                         const std::vector<std::string>& report_fields) {
  check_flags(command, o);
  if (runs.empty()) throw UsageError("sweep: no runs");
  if (runs.size() > 100000) throw UsageError("sweep: at most 100000 runs in one sweep");
  const int parallel = o.jobs > 0 ? o.jobs : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / o.threads_per_job);
  const fs::path dir(o.out), runs_dir = dir / "runs", config_path = dir / "sweep.json";
  const nlohmann::json config = {{"command", command.name()}, {"flags", o.flags}, {"device", ctx.common.device}};
  if (fs::exists(config_path)) {
    const nlohmann::json old = read_json(config_path);
    if (old != config)
      throw UsageError(fmt::format("{}: this folder holds a sweep with other flags ({}); use another -o", config_path.string(),
                                   old.value("flags", nlohmann::json::array()).dump()));
  } else if (fs::exists(dir) && !fs::is_empty(dir)) {
    throw UsageError(o.out + ": exists and is not a sweep folder (no sweep.json)");
  }
  fs::create_directories(runs_dir);
  if (!fs::exists(config_path)) write_json(config_path, config);
  fs::remove(dir / "manifest.json");  // the manifest marks a complete sweep

  const std::string self = self_executable().string();
  std::vector<Job> jobs;
  for (const SweepRun& r : runs) {
    Job j;
    j.name = r.name;
    j.output = runs_dir / (r.name + ".json");
    j.log = runs_dir / (r.name + ".log");
    j.argv = {self, command.name()};
    j.argv.insert(j.argv.end(), o.flags.begin(), o.flags.end());
    j.argv.insert(j.argv.end(), r.args.begin(), r.args.end());
    for (const std::string& a : {std::string("--threads"), std::to_string(o.threads_per_job), std::string("--device"), ctx.common.device,
                                 std::string("-o"), j.output.string(), std::string("--checkpoint"), (runs_dir / (r.name + ".ckpt")).string(),
                                 std::string("--resume")})
      j.argv.push_back(a);
    jobs.push_back(j);
  }
  log::info("{} runs, {} at a time, {} thread(s) each", jobs.size(), parallel, o.threads_per_job);
  size_t finished = 0;
  JobsResult r;
  {
    auto timer = ctx.timers.scope("runs");
    r = run_jobs(jobs, parallel, [&](const Job& job, size_t) { log::info("[{}] {} done", ++finished, job.name); });
  }
  check_stop();
  nlohmann::json manifest = {{"runs", nlohmann::json::array()}, {"done_before", r.done_before}, {"ran", r.ran}, {"flags", o.flags}};
  for (size_t i = 0; i < jobs.size(); ++i) {
    const nlohmann::json rep = read_json(jobs[i].output);
    nlohmann::json entry = runs[i].key;
    entry["name"] = runs[i].name;
    entry["report"] = fs::relative(jobs[i].output, dir).string();
    for (const auto& f : report_fields) entry[f] = rep.value(f, nlohmann::json());
    manifest["runs"].push_back(entry);
  }
  write_report((dir / "manifest.json").string(), manifest);
  log::info("{}: {} runs ({} were done before)", o.out, jobs.size(), r.done_before);
  return manifest;
}

}  // namespace paramkit::cli
