// The one resumable loop every training tool uses: it runs work units [start, total), saves a checkpoint
// every N units, at the end, after --stop-after units and at the first SIGINT/SIGTERM (then throws
// Interrupted, exit 130). What a unit is (a step, an episode) and what a checkpoint holds is the caller's.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>

namespace paramkit {

struct CheckpointOptions {
  std::filesystem::path path;  // empty: no checkpoints
  int64_t every = 0;           // 0: only at the end and at a stop
  bool resume = false;         // continue from `path` when it exists
  int64_t stop_after = 0;      // 0: run to the end; N: stop this run after N units, with a checkpoint
  // UsageError for --resume, --stop-after or --checkpoint-every without --checkpoint.
  void validate() const;
  // Whether a run should load `path` before starting.
  bool resuming() const;
};

struct LoopOutcome {
  int64_t done = 0;       // units completed, counting those before a resume
  bool finished = false;  // false when --stop-after ended the run early
};

// Calls step(i) for i in [start, total). save(next) writes a checkpoint from which unit `next` is the
// next to run; it is called only when options.path is set.
LoopOutcome run_resumable(const CheckpointOptions& options, int64_t start, int64_t total,
                          const std::function<void(int64_t unit)>& step, const std::function<void(int64_t next)>& save);

}  // namespace paramkit
