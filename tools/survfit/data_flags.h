// The data flags of the subcommands that read survival data (fit, km, cox): the survival columns,
// the event coding, missing values, reference levels and the confidence level.
#pragma once
#include <CLI/CLI.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "paramkit/survival/report.h"

struct DataFlags {
  std::string path;  // the CSV (positional "data")
  std::string time = "time", status = "status", entry;
  double event_value = NAN;  // NaN: R's rule
  std::string na = "drop";
  std::vector<std::string> refs;  // column=level
  double conf = 0.95;

  void add(CLI::App& app, const std::string& data_help);
  // The library's options (UsageError for a malformed --ref).
  paramkit::survival::DataOptions options() const;
};
