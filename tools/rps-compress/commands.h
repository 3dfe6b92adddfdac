// rps-compress's subcommands, one file each.
#pragma once
#include <memory>

#include "paramkit/cli/tool.h"

void add_train(paramkit::cli::Tool& tool);
void add_sweep(paramkit::cli::Tool& tool);
void add_summarize(paramkit::cli::Tool& tool);
void add_expand(paramkit::cli::Tool& tool);
// The train command by itself: sweep parses the flags it passes on to train with it.
std::unique_ptr<paramkit::cli::Command> make_train_command();
