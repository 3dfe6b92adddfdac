#include "paramkit/core/jobs.h"

#include <fmt/format.h>

#include <atomic>
#include <exception>
#include <fstream>
#include <mutex>
#include <thread>

#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"
#include "paramkit/core/subprocess.h"

namespace paramkit {

std::string last_line(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  return last;
}

JobsResult run_jobs(const std::vector<Job>& jobs, int parallel, const std::function<void(const Job&, size_t)>& on_done) {
  if (parallel < 1) throw UsageError("jobs: at least one job at a time");
  JobsResult result;
  std::vector<size_t> todo;
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (jobs[i].argv.empty()) throw UsageError("job " + jobs[i].name + ": no command");
    if (std::filesystem::exists(jobs[i].output))
      ++result.done_before;
    else
      todo.push_back(i);
  }
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mutex;
  std::exception_ptr first_error;
  std::atomic<int64_t> ran{0};
  auto worker = [&] {
    for (;;) {
      if (failed || stop_requested()) return;
      const size_t k = next++;
      if (k >= todo.size()) return;
      const Job& job = jobs[todo[k]];
      std::string command;
      for (const auto& a : job.argv) command += (command.empty() ? "" : " ") + shell_quote(a);
      if (!job.log.empty()) command += " 2>>" + shell_quote(job.log.string());
      CommandOptions o;
      o.what = "job " + job.name;
      o.keep_tail = true;
      o.max_output = 1 << 20;
      try {
        run_command(command, o);
        ++ran;
        if (on_done) {
          std::lock_guard<std::mutex> lock(mutex);
          on_done(job, todo[k]);
        }
      } catch (const CommandFailed& e) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!first_error) {
          const std::string tail = job.log.empty() ? "" : last_line(job.log);
          const std::string msg = fmt::format("job {} failed (exit status {}){}{}", job.name, e.status(),
                                              tail.empty() ? "" : ": ", tail.empty() ? job.log.string() : tail);
          first_error = e.status() == 2 ? std::make_exception_ptr(UsageError(msg)) : std::make_exception_ptr(Error(msg + " (log: " + job.log.string() + ")"));
        }
        failed = true;
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!first_error) first_error = std::current_exception();
        failed = true;
      }
    }
  };
  std::vector<std::thread> threads;
  const size_t n = std::min<size_t>(static_cast<size_t>(parallel), todo.size());
  for (size_t i = 0; i < n; ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  result.ran = ran;
  if (stop_requested()) throw Interrupted();
  if (first_error) std::rethrow_exception(first_error);
  return result;
}

}  // namespace paramkit
