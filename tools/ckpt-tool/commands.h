// ckpt-tool's subcommands, one file each.
#pragma once
#include "paramkit/cli/tool.h"

void add_info(paramkit::cli::Tool& tool);
void add_convert(paramkit::cli::Tool& tool);
void add_diff(paramkit::cli::Tool& tool);
