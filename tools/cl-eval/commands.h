// cl-eval's subcommands, one file each, and the scenario / algorithm flags they share.
#pragma once
#include <CLI/CLI.hpp>
#include <memory>

#include "paramkit/cl/learner.h"
#include "paramkit/cl/scenario.h"
#include "paramkit/cli/tool.h"

void add_run(paramkit::cli::Tool& tool);
void add_tune(paramkit::cli::Tool& tool);
void add_evaluate(paramkit::cli::Tool& tool);
void add_report(paramkit::cli::Tool& tool);
// The run command by itself: tune and evaluate run it as their jobs.
std::unique_ptr<paramkit::cli::Command> make_run_command();

// --train-images, --train-labels, --test-images, --test-labels, --scenario, --setting, --tasks,
// --classes-per-task, --train-per-task, --disjoint, --rotation-step.
struct ScenarioFlags {
  std::string train_images, train_labels, test_images, test_labels;
  paramkit::cl::ScenarioSpec spec;
};
void add_scenario_flags(CLI::App& app, ScenarioFlags& f);
// The scenario of `part` (all, ht, e), class order and permutations from `order_seed`.
paramkit::cl::Scenario load_scenario(const ScenarioFlags& f, const std::string& part, uint64_t order_seed);

// --epochs, --batch-size, --memory, --hidden (the scenario configuration every algorithm shares).
void add_budget_flags(CLI::App& app, paramkit::cl::AlgoSpec& a);
