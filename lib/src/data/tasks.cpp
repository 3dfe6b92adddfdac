// Digit tasks: label maps and image transforms of a digit dataset.
#include "paramkit/data/tasks.h"

#include <algorithm>

#include "paramkit/core/error.h"

namespace paramkit {

const std::vector<std::string>& digit_task_names() {
  static const std::vector<std::string> names = {"digit", "parity", "mod3", "high", "rot90", "flip", "invert"};
  return names;
}

int64_t digit_task_classes(const std::string& task) {
  if (task == "parity" || task == "high") return 2;
  if (task == "mod3") return 3;
  if (task == "digit" || task == "rot90" || task == "flip" || task == "invert") return 10;
  std::string known;
  for (const auto& n : digit_task_names()) known += (known.empty() ? "" : ", ") + n;
  throw UsageError("unknown task '" + task + "' (known: " + known + ")");
}

Dataset make_digit_task(const Dataset& d, const std::string& task) {
  digit_task_classes(task);  // the name is known
  if (d.size() == 0) return d;
  const int64_t lo = d.y.min().item<int64_t>(), hi = d.y.max().item<int64_t>();
  if (lo < 0 || hi > 9)
    throw InputError("labels", "", "task '" + task + "' needs digit labels 0-9, found " + std::to_string(lo) + " to " +
                                       std::to_string(hi));
  const bool image = task == "rot90" || task == "flip" || task == "invert";
  if (image && d.x.dim() < 3)
    throw InputError("images", "", "task '" + task + "' needs images [N, H, W], got " + std::to_string(d.x.dim()) + " dimensions");
  Dataset t = d;
  if (task == "parity") t.y = d.y.remainder(2);
  else if (task == "mod3") t.y = d.y.remainder(3);
  else if (task == "high") t.y = d.y.ge(5).to(torch::kInt64);
  else if (task == "rot90") t.x = torch::rot90(d.x, 1, {-2, -1}).contiguous();
  else if (task == "flip") t.x = d.x.flip({-1}).contiguous();
  else if (task == "invert") t.x = 1.0 - d.x;
  return t;
}

}  // namespace paramkit
