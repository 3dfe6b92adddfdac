// intdim-probe's subcommands, one file each.
#pragma once
#include "paramkit/cli/tool.h"

void add_train(paramkit::cli::Tool& tool);
void add_summarize(paramkit::cli::Tool& tool);
