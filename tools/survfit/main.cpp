// survfit: parametric survival regression (APGW family, PH/AFT/multi-parameter regression), Kaplan-
// Meier, Cox PH, predictions, simulation and likelihood-ratio tests on CSV data.
#include "commands.h"
#include "paramkit/torch/runtime.h"

int main(int argc, char** argv) {
  paramkit::cli::Tool tool("survfit",
                           "Flexible parametric survival analysis (APGW family, PH/AFT/multi-parameter regression), Kaplan-Meier, "
                           "Cox PH, predictions and simulation, with R-compatible numbers.");
  tool.alias("--out", "--output");
  tool.set_runtime([](const paramkit::cli::CommonOptions& c) { paramkit::start_torch(c.seed, c.threads, c.device); });
  add_fit(tool);
  add_km(tool);
  add_cox(tool);
  add_predict(tool);
  add_simulate(tool);
  add_lrt(tool);
  return tool.main(argc, argv);
}
