// Tasks made from a digit dataset (MNIST) for multi-task experiments such as model merging: a label
// map (parity, digit mod 3, digit >= 5) or an input transform (rotated, mirrored, inverted images).
#pragma once
#include <string>
#include <vector>

#include "paramkit/data/dataset.h"

namespace paramkit {

// digit, parity, mod3, high, rot90, flip, invert.
const std::vector<std::string>& digit_task_names();
// Number of classes of a task's labels; UsageError naming the known tasks for another name.
int64_t digit_task_classes(const std::string& task);
// The examples of a task. Labels: digit, rot90, flip, invert keep the digit; parity is digit mod 2,
// mod3 digit mod 3, high digit >= 5. Images ([N, H, W] or [N, C, H, W]): rot90 turns them 90 degrees
// counter-clockwise, flip mirrors them left to right, invert maps x to 1 - x (inputs in [0, 1]).
// InputError for labels outside 0-9 or an image task on inputs of fewer than 2 dimensions.
Dataset make_digit_task(const Dataset& digits, const std::string& task);

}  // namespace paramkit
