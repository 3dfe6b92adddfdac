// mmsb-fit's subcommands, one file each, and the flags of a reference class.
#pragma once
#include <CLI/CLI.hpp>

#include "paramkit/cli/tool.h"
#include "paramkit/sb/drift.h"

void add_simulate(paramkit::cli::Tool& tool);
void add_fit(paramkit::cli::Tool& tool);
void add_evaluate(paramkit::cli::Tool& tool);
void add_plot(paramkit::cli::Tool& tool);

// A comma-separated list of numbers (UsageError naming the flag for anything else).
std::vector<double> number_list(const std::string& text, const std::string& flag);
