// The scenario and budget flags of run, tune and evaluate.
#include <fmt/format.h>

#include "commands.h"
#include "paramkit/core/error.h"
#include "paramkit/data/dataset.h"

using namespace paramkit;

void add_scenario_flags(CLI::App& app, ScenarioFlags& f) {
  app.add_option("--train-images", f.train_images, "IDX training images (MNIST)")->required()->check(CLI::ExistingFile);
  app.add_option("--train-labels", f.train_labels, "IDX training labels")->required()->check(CLI::ExistingFile);
  app.add_option("--test-images", f.test_images, "IDX test images")->required()->check(CLI::ExistingFile);
  app.add_option("--test-labels", f.test_labels, "IDX test labels")->required()->check(CLI::ExistingFile);
  auto& s = f.spec;
  app.add_option("--scenario", s.kind, "split (class or task setting), permuted or rotated (domain setting)")
      ->capture_default_str()
      ->check(CLI::IsMember({"split", "permuted", "rotated"}));
  app.add_option("--setting", s.setting, "class, task (split) or domain (permuted, rotated)")->capture_default_str()->check(CLI::IsMember({"class", "task", "domain"}));
  app.add_option("--tasks", s.tasks, "Tasks")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--classes-per-task", s.classes_per_task, "split: classes per task")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--train-per-task", s.train_per_task, "At most this many training images per task (0: all)")->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{1} << 30));
  app.add_option("--disjoint", s.disjoint, "How D_HT and D_E differ: halves (a fixed half of the images each) or classes (disjoint class sets)")
      ->capture_default_str()
      ->check(CLI::IsMember({"halves", "classes"}));
  app.add_option("--rotation-step", s.rotation_step, "rotated: degrees per task")->capture_default_str()->check(CLI::Range(-360.0, 360.0));
}

cl::Scenario load_scenario(const ScenarioFlags& f, const std::string& part, uint64_t order_seed) {
  cl::ScenarioSpec s = f.spec;
  s.part = part;
  s.order_seed = order_seed;
  s.validate();
  const Dataset train = load_idx_dataset(f.train_images, f.train_labels), test = load_idx_dataset(f.test_images, f.test_labels);
  if (train.x.dim() != 3) throw InputError(f.train_images, "dimensions", "expected single-channel images [N, H, W]");
  if (test.x.dim() != 3 || test.x.size(1) != train.x.size(1) || test.x.size(2) != train.x.size(2))
    throw InputError(f.test_images, "dimensions", "the test images must have the training images' size");
  return cl::build_scenario(s, train, test);
}

void add_budget_flags(CLI::App& app, cl::AlgoSpec& a) {
  app.add_option("--epochs", a.epochs, "Epochs per task")->capture_default_str()->check(CLI::Range(1, 10000));
  app.add_option("--batch-size", a.batch_size, "Mini-batch size")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  app.add_option("--memory", a.memory, "Examples kept by replay, iCaRL, WA, DER, DER++")->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{1} << 24));
  app.add_option("--hidden", a.hidden, "MLP hidden widths")->delimiter(',')->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{65536}));
}
