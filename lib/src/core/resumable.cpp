#include "paramkit/core/resumable.h"

#include <algorithm>

#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"

namespace paramkit {

void CheckpointOptions::validate() const {
  if (!path.empty()) return;
  if (resume) throw UsageError("--resume needs --checkpoint");
  if (stop_after > 0) throw UsageError("--stop-after needs --checkpoint (a stopped run continues from it)");
  if (every > 0) throw UsageError("--checkpoint-every needs --checkpoint");
}

bool CheckpointOptions::resuming() const { return resume && !path.empty() && std::filesystem::exists(path); }

LoopOutcome run_resumable(const CheckpointOptions& o, int64_t start, int64_t total, const std::function<void(int64_t)>& step,
                          const std::function<void(int64_t)>& save) {
  o.validate();
  const bool saving = !o.path.empty();
  const int64_t stop_at = o.stop_after > 0 ? std::min(total, start + o.stop_after) : total;
  int64_t i = start;
  while (i < stop_at) {
    if (stop_requested()) {
      if (saving) save(i);
      throw Interrupted();
    }
    step(i);
    ++i;
    if (saving && o.every > 0 && i % o.every == 0 && i < stop_at) save(i);
  }
  if (saving) save(i);
  return {i, i >= total};
}

}  // namespace paramkit
