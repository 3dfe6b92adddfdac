// Independent jobs, one command line each, run as subprocesses up to `parallel` at a time: the local
// fan-out of sweeps (intdim-probe sweep; the Snakefiles in examples/ run the same command lines on a
// cluster). A job whose output exists is done and is not run again, so a stopped sweep resumes where it
// was; each job's stderr is appended to its log file; a stop request (SIGINT/SIGTERM) ends the running
// jobs at once (their own checkpoints let the rerun continue them) and throws Interrupted.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace paramkit {

struct Job {
  std::string name;               // for messages
  std::vector<std::string> argv;  // argv[0]: the program
  std::filesystem::path output;   // present: the job is done
  std::filesystem::path log;      // the job's stderr (appended)
};

struct JobsResult {
  int64_t done_before = 0;  // skipped: their output was there
  int64_t ran = 0;          // finished in this call
};

// Runs the jobs not yet done, `parallel` at a time. The first failure stops new launches; the jobs
// running then finish, and the failure is rethrown naming the job, its exit status and the last line of
// its log: as UsageError when the job exited 2 (bad flags or input: every job would fail alike), else as
// Error. on_done(job, index) is called (from a worker thread, one at a time) after each finished job.
JobsResult run_jobs(const std::vector<Job>& jobs, int parallel, const std::function<void(const Job&, size_t)>& on_done = {});

// The last non-empty line of a text file (a failed job's log), or "" when there is none.
std::string last_line(const std::filesystem::path& path);

}  // namespace paramkit
