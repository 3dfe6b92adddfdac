// Continual-learning scenarios from an image classification set (MNIST): Split (class-incremental or
// task-incremental: tasks of classes_per_task classes in a seeded class order), Permuted and Rotated
// (domain-incremental: every task all classes, a seeded pixel permutation or a rotation per task). The
// two-phase protocol's D_HT and D_E are disjoint parts of the data: `halves` (a fixed seeded half of the
// training and of the test rows each) or `classes` (disjoint class sets; Split only).
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "paramkit/data/dataset.h"

namespace paramkit::cl {

struct ScenarioSpec {
  std::string kind = "split";      // split | permuted | rotated
  std::string setting = "class";   // class | task (split only) | domain (permuted, rotated)
  int64_t tasks = 5;
  int64_t classes_per_task = 2;    // split
  std::string part = "all";        // all | ht | e: the data part (D_HT, D_E)
  std::string disjoint = "halves"; // halves | classes: how D_HT and D_E differ
  uint64_t order_seed = 0;         // class order, permutations
  uint64_t split_seed = 0;         // the D_HT / D_E halves (the same for every run seed)
  int64_t train_per_task = 0;      // at most this many training rows per task (0: all)
  double rotation_step = 15;       // rotated: degrees per task
  void validate() const;           // UsageError naming the field
};
nlohmann::json to_json(const ScenarioSpec& s);

struct Task {
  Dataset train, test;              // labels already in the scenario's output space
  std::vector<int64_t> classes;     // output units of this task (task-IL masks the others)
};

struct Scenario {
  ScenarioSpec spec;
  std::vector<Task> tasks;
  int64_t outputs = 10;             // head size
  std::vector<int64_t> class_order; // split: original label of output unit u
};

// From the full training and test sets (images [N, H, W] in [0, 1], labels 0..C-1).
Scenario build_scenario(const ScenarioSpec& spec, const Dataset& train, const Dataset& test);

}  // namespace paramkit::cl
