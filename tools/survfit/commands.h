// survfit's subcommands, one file each, and what they share: writing a JSON report stamped with the
// run's provenance.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "paramkit/cli/tool.h"
#include "paramkit/core/provenance.h"
#include "paramkit/io/json.h"

void add_fit(paramkit::cli::Tool& tool);
void add_km(paramkit::cli::Tool& tool);
void add_cox(paramkit::cli::Tool& tool);
void add_predict(paramkit::cli::Tool& tool);
void add_simulate(paramkit::cli::Tool& tool);
void add_lrt(paramkit::cli::Tool& tool);

// Writes a JSON report (atomically) with a "provenance" key: the run's tool, version, config, seed, time.
inline void write_report(const std::string& path, nlohmann::json report) {
  report["provenance"] = paramkit::current_provenance().to_json();
  paramkit::write_json(path, report);
}
