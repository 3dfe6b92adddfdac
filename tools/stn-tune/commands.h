// stn-tune's subcommands, one file each, and the data/model/hyperparameter flags they share.
#pragma once
#include <CLI/CLI.hpp>
#include <memory>

#include "paramkit/cli/nn_options.h"
#include "paramkit/cli/tool.h"
#include "paramkit/hpo/stn.h"

void add_tune(paramkit::cli::Tool& tool);
void add_retrain(paramkit::cli::Tool& tool);
void add_search(paramkit::cli::Tool& tool);
void add_compare(paramkit::cli::Tool& tool);
// The retrain command by itself: search runs it as its jobs.
std::unique_ptr<paramkit::cli::Command> make_retrain_command();

// --train-images ... (cli/nn_options.h), --valid-fraction, --model, --hidden, --hyper (repeatable),
// --hypers FILE.json.
struct StnFlags {
  paramkit::cli::ImageDataOptions data;
  double valid_fraction = 1.0 / 6.0;
  std::string model = "mlp";
  std::vector<int64_t> hidden;
  std::vector<std::string> hyper;
  std::string hypers_file;
};
void add_stn_flags(CLI::App& app, StnFlags& f, bool hyper_values_only = false);

struct StnData {
  paramkit::hpo::StnSpec spec;
  paramkit::Dataset train, val, test;
};
// The spec (hyperparameters from --hyper / --hypers; `need_hypers`: at least one) and the training set
// split into training and validation (its last valid_fraction rows: deterministic) and the test set.
StnData load_stn(const StnFlags& f, uint64_t seed, bool need_hypers);
