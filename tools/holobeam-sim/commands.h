// holobeam-sim's subcommands, one file each, and the channel flags they share.
#pragma once
#include <CLI/CLI.hpp>

#include "paramkit/beam/montecarlo.h"
#include "paramkit/cli/tool.h"

void add_simulate(paramkit::cli::Tool& tool);
void add_sweep(paramkit::cli::Tool& tool);
void add_plot(paramkit::cli::Tool& tool);
void add_beam(paramkit::cli::Tool& tool);

// --n1, --n2, --oversample, --noise, --sigma, --snr-db.
void add_channel_flags(CLI::App& app, paramkit::beam::Channel& c);
// --algorithms (comma-separated; "all"), parsed and checked.
std::vector<std::string> parse_algorithms(const std::string& text);
// Worker threads from the common --threads (0: the hardware's).
int worker_threads(int threads);
