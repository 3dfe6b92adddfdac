// pcb-merge's command (the tool has no subcommands).
#pragma once
#include "paramkit/cli/tool.h"

void add_merge(paramkit::cli::Tool& tool);
