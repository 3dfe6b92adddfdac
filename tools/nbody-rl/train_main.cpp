// nbody-rl-train: the training helper of nbody-rl (LibTorch). nbody-rl checks a `train` command line
// and replaces itself by this binary with the same arguments; it is not meant to be run on its own.
#include <signal.h>

#include "commands.h"
#include "paramkit/core/signals.h"
#include "paramkit/nbody/dqn.h"
#include "paramkit/torch/runtime.h"

int main(int argc, char** argv) {
  // nbody-rl execs this with SIGINT/SIGTERM blocked: a signal sent meanwhile (LibTorch loads for a
  // fraction of a second before main) is delivered now, to the stop flag the training loop checks.
  paramkit::install_signal_handlers();
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  sigprocmask(SIG_UNBLOCK, &stop, nullptr);
  paramkit::cli::Tool tool("nbody-rl", kNbodyRlDescription);
  tool.alias("--out", "--output");
  tool.set_runtime([](const paramkit::cli::CommonOptions& c) { paramkit::start_torch(c.seed, c.threads, c.device); });
  add_train(tool, paramkit::nbody::train_dqn);
  return tool.main(argc, argv);
}
