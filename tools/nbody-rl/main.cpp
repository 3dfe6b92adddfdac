// nbody-rl: few-body integrators (Hermite, leapfrog, IAS15-class, RK45) and a DQN agent that chooses
// the time-step parameter (Saz Ulibarrena & Portegies Zwart 2025). This binary has no LibTorch, so
// integrate and evaluate (policies run in plain C++) start in milliseconds; train, once its flags are
// checked, replaces this process by the training helper nbody-rl-train (LibTorch), which runs the same
// command line: same process id, signals, exit code and outputs.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "commands.h"
#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"

namespace {

char** g_argv = nullptr;

// The helper beside this binary: build/libexec/nbody-rl-train for build/bin/nbody-rl (also found in
// the same folder).
paramkit::nbody::TrainResult exec_training_helper(const paramkit::nbody::TrainConfig&) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw paramkit::Error("train: cannot locate this binary (/proc/self/exe): " + ec.message());
  const fs::path candidates[] = {self.parent_path().parent_path() / "libexec" / "nbody-rl-train", self.parent_path() / "nbody-rl-train"};
  for (const fs::path& helper : candidates) {
    if (access(helper.c_str(), X_OK) != 0) continue;
    std::fflush(stdout);
    std::fflush(stderr);
    // SIGINT/SIGTERM stay blocked across exec (a signal then waits, pending) until the helper has its
    // handlers: one signal at any moment ends the run with exit 130, never the default 143.
    sigset_t stop, old;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigprocmask(SIG_BLOCK, &stop, &old);
    if (paramkit::stop_requested()) {
      sigprocmask(SIG_SETMASK, &old, nullptr);
      throw paramkit::Interrupted();
    }
    execv(helper.c_str(), g_argv);
    const int err = errno;
    sigprocmask(SIG_SETMASK, &old, nullptr);
    throw paramkit::Error("train: cannot start the training helper " + helper.string() + ": " + std::strerror(err));
  }
  throw paramkit::Error("train: the training helper nbody-rl-train (LibTorch) is missing; looked for " + candidates[0].string() + " and " +
                        candidates[1].string());
}

}  // namespace

int main(int argc, char** argv) {
  g_argv = argv;
  paramkit::cli::Tool tool("nbody-rl", kNbodyRlDescription);
  tool.alias("--out", "--output");
  add_integrate(tool);
  add_train(tool, exec_training_helper);
  add_evaluate(tool);
  return tool.main(argc, argv);
}
