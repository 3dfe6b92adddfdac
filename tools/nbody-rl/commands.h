// nbody-rl's subcommands, one file each. `train` needs LibTorch: nbody-rl itself (no LibTorch, starts in
// milliseconds) hands a validated training run to its helper nbody-rl-train (train_main.cpp), which
// registers the same command with the LibTorch trainer.
#pragma once
#include <functional>

#include "paramkit/cli/tool.h"
#include "paramkit/nbody/train.h"

inline constexpr const char* kNbodyRlDescription =
    "Integrate few-body systems (Hermite, leapfrog, IAS15-class, RK45) and train/evaluate an RL agent that picks "
    "the time-step parameter.";

using Trainer = std::function<paramkit::nbody::TrainResult(const paramkit::nbody::TrainConfig&)>;

void add_integrate(paramkit::cli::Tool& tool);
void add_train(paramkit::cli::Tool& tool, Trainer trainer);
void add_evaluate(paramkit::cli::Tool& tool);
