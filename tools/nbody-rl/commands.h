// nbody-rl's subcommands, one file each.
#pragma once
#include "paramkit/cli/tool.h"

void add_integrate(paramkit::cli::Tool& tool);
void add_train(paramkit::cli::Tool& tool);
void add_evaluate(paramkit::cli::Tool& tool);
