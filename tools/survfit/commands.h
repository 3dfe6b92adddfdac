// survfit's subcommands, one file each (JSON reports are written with io/json.h's write_report).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "paramkit/cli/tool.h"
#include "paramkit/io/json.h"

void add_fit(paramkit::cli::Tool& tool);
void add_km(paramkit::cli::Tool& tool);
void add_cox(paramkit::cli::Tool& tool);
void add_predict(paramkit::cli::Tool& tool);
void add_simulate(paramkit::cli::Tool& tool);
void add_lrt(paramkit::cli::Tool& tool);
