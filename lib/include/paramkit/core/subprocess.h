// Running a user's shell command (pcb-merge's --eval-cmd, rlhf-train's external reward scorer):
// /bin/sh -c in a process group of its own, optional bytes on its stdin, stdout collected, while the
// stop flag is watched: a SIGINT/SIGTERM to the tool ends the whole command (its children too) at once.
#pragma once
#include <cstddef>
#include <filesystem>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "paramkit/core/error.h"

namespace paramkit {

struct CommandOptions {
  std::string input;                          // written to the command's stdin (then closed)
  size_t max_output = 64u << 20;              // stdout beyond this is an error (keep_tail false) or dropped from the front
  bool keep_tail = false;                     // true: keep only the last max_output bytes (chatty commands)
  std::string what = "command";               // the flag the command came from, for messages ("--eval-cmd")
};

// A command that ran and failed: status is its exit status, or 128 + the signal that ended it.
class CommandFailed : public Error {
 public:
  CommandFailed(const std::string& what, int status) : Error(what), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

// Runs `command` and returns its stdout. Throws Interrupted (after ending the command's process
// group: SIGTERM, then SIGKILL after 1 s) on a stop request, and Error naming options.what for a
// command that cannot start, exits non-zero or is killed, or writes more than max_output bytes
// (keep_tail false). A command that exits without reading all its input is not an error by itself.
std::string run_command(const std::string& command, const CommandOptions& options = {});

// This program's own executable (/proc/self/exe), to run a subcommand of the same tool as a job.
std::filesystem::path self_executable();

// Runs `n` copies of argv (each with its own extra environment from env(rank)) and waits for all of
// them: the torchrun-style local launch. When one exits non-zero or dies, the others get SIGTERM and,
// 3 s later, SIGKILL; a SIGINT/SIGTERM to this process is forwarded the same way. Returns 0 when every
// copy exited 0, else the first failure's status (its exit code, or 128 + signal), with `failure`
// naming the rank and what happened.
int run_process_group(const std::vector<std::string>& argv, int64_t n,
                      const std::function<std::vector<std::pair<std::string, std::string>>(int64_t rank)>& env, std::string& failure);

// `s` quoted for /bin/sh.
std::string shell_quote(const std::string& s);

}  // namespace paramkit
