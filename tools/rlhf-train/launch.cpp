// rlhf-train launch: N local processes of a command with the rendezvous torchrun sets (MASTER_ADDR,
// MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, and OMP_NUM_THREADS=1 when unset, as
// torchrun does); when one fails the others are stopped and the launch fails naming it.
#include <fmt/format.h>

#include <cstdlib>

#include "commands.h"
#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/subprocess.h"
#include "paramkit/rlhf/dist.h"

using namespace paramkit;

namespace {
struct LaunchCommand : cli::Command {
  LaunchCommand()
      : Command("launch", "Start N local processes of a command with torchrun's rendezvous variables",
                "rlhf-train launch -n 2 -- rlhf-train realloc --from 1,2,1 --to 2,1,1 -o /tmp/realloc.json") {}
  void add_options(CLI::App& app) override {
    app.add_option("-n,--nproc", n, "Processes")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1024}));
    app.add_option("--port", port, "MASTER_PORT (0: a free one)")->capture_default_str()->check(CLI::Range(0, 65535));
    app.add_option("command", command, "The command (after --)")->required()->expected(-1);
  }
  nlohmann::json execute(cli::Context& ctx) override {
    const int p = port > 0 ? port : rlhf::dist::free_local_port();
    std::string failure;
    // As torchrun: one thread per process unless OMP_NUM_THREADS says otherwise (N processes on a machine).
    const bool one_thread = n > 1 && !std::getenv("OMP_NUM_THREADS");
    const int rc = run_process_group(command, n, [&](int64_t r) {
      std::vector<std::pair<std::string, std::string>> env = {{"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", std::to_string(p)},
                                                              {"RANK", std::to_string(r)},    {"WORLD_SIZE", std::to_string(n)},
                                                              {"LOCAL_RANK", std::to_string(r)}, {"LOCAL_WORLD_SIZE", std::to_string(n)}};
      if (one_thread) env.push_back({"OMP_NUM_THREADS", "1"});
      return env;
    }, failure);
    if (rc == 130) throw Interrupted();
    if (rc != 0) {
      log::error("launch: {}; the other processes were stopped", failure);
      ctx.exit_code = rc == 2 ? 2 : 1;  // a usage error in every rank stays one
      return {{"processes", n}, {"failed", failure}, {"status", rc}};
    }
    return {{"processes", n}, {"port", p}};
  }
  int64_t n = 2;
  int port = 0;
  std::vector<std::string> command;
};
}  // namespace

void add_launch(cli::Tool& tool) { tool.add<LaunchCommand>(); }
