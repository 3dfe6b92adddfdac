// pfgm-sample's subcommands, one file each.
#pragma once
#include "paramkit/cli/tool.h"

void add_toy(paramkit::cli::Tool& tool);
void add_train(paramkit::cli::Tool& tool);
void add_sample(paramkit::cli::Tool& tool);
void add_classifier(paramkit::cli::Tool& tool);
void add_evaluate(paramkit::cli::Tool& tool);
void add_plot(paramkit::cli::Tool& tool);
