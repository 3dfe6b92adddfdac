// survfit lrt: likelihood-ratio test of a nested fit against a fuller one (two reports of 'survfit fit').
#include <iostream>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/io/json.h"
#include "paramkit/survival/fit.h"

using namespace paramkit;
using namespace paramkit::survival;

namespace {
struct LrtResult {
  LikelihoodRatio test;
  std::string full, nested;  // the two reports
};
void to_json(nlohmann::json& j, const LrtResult& r) {
  j = r.test;
  j["full"] = r.full;
  j["nested"] = r.nested;
}

struct LrtCommand : cli::TypedCommand<LrtResult> {
  LrtCommand()
      : TypedCommand("lrt", "Likelihood-ratio test of a nested fit (e.g. kappa fixed at 1) against a fuller one",
                     "survfit lrt tests/data/survival/veteran-weibull.json tests/data/survival/veteran-exponential.json") {}
  void add_options(CLI::App& app) override {
    app.add_option("full", full_path, "Report of the fuller fit")->required();
    app.add_option("nested", nested_path, "Report of the nested fit")->required();
    cli::add_output(app, out, "Report (JSON)", /*required=*/false);
  }
  LrtResult run(cli::Context&) override {
    const nlohmann::json full = read_json(full_path), nested = read_json(nested_path);
    LrtResult r{likelihood_ratio(full, nested), full_path, nested_path};
    const nlohmann::json rep = r;
    if (!out.empty()) write_report(out, rep);
    std::cout << rep.dump(2) << "\n";
    return r;
  }
  std::string full_path, nested_path, out;
};
}  // namespace

void add_lrt(cli::Tool& tool) { tool.add<LrtCommand>(); }
