// mmsb-fit simulate: snapshot data from a system with known parameters (Lotka-Volterra, the
// repressilator, linear/OU, a spring, a potential network): one population simulated with
// Euler-Maruyama and recorded at the given times, identities dropped.
#include <fmt/format.h>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"

using namespace paramkit;

std::vector<double> number_list(const std::string& text, const std::string& flag) {
  if (text.empty()) return {};
  return cli::parse_list(text, flag);
}

namespace {
struct SimulateCommand : cli::Command {
  SimulateCommand()
      : Command("simulate", "Simulate snapshots of a system with known parameters (CSV, HDF5 or safetensors)",
                "mmsb-fit simulate --system lv --params 1,0.4,0.1,0.4 --x0 5,2 --times 0,1,2,3,4,5,6,7,8 -n 200 -o /tmp/lv.csv") {
    system.kind = "lv";
  }
  void add_options(CLI::App& app) override {
    app.add_option("--system", system.kind, "lv, repressilator, linear, spring or potential")
        ->capture_default_str()
        ->check(CLI::IsMember({"lv", "repressilator", "linear", "spring", "potential"}));
    app.add_option("--params", params, "The parameters, comma-separated (lv: alpha,beta,delta,gamma; repressilator: beta,n,k,gamma; "
                                       "linear: A row-major then b; spring: k)")
        ->required();
    app.add_option("--x0", x0, "Mean of the initial population, comma-separated (its length sets the dimension)")->required();
    app.add_option("--x0-sd", x0_sd, "Standard deviation of the initial population")->capture_default_str()->check(CLI::Range(0.0, 1e6));
    app.add_option("--times", times, "Snapshot times, comma-separated, strictly increasing")->required();
    app.add_option("-n,--particles", n, "Particles")->capture_default_str()->check(CLI::Range(int64_t{2}, int64_t{10000000}));
    app.add_option("--sigma", sigma, "Diffusion sigma (dX = f dt + sigma dW)")->capture_default_str()->check(CLI::Range(0.0, 1e6));
    app.add_option("--dt", dt, "Euler-Maruyama step")->capture_default_str()->check(CLI::Range(1e-9, 1e6));
    app.add_option("--potential-hidden", system.hidden, "potential: hidden units")->capture_default_str()->check(CLI::Range(1, 4096));
    cli::add_output(app, out, "Snapshots (.csv with columns t, x1.., or .h5/.safetensors with t and x)");
  }
  nlohmann::json execute(cli::Context& ctx) override {
    const std::vector<double> th = number_list(params, "--params"), m = number_list(x0, "--x0"), t = number_list(times, "--times");
    system.dim = static_cast<int64_t>(m.size());
    system.validate();
    for (size_t k = 1; k < t.size(); ++k)
      if (!(t[k] > t[k - 1])) throw UsageError(fmt::format("--times must increase strictly ({} after {})", t[k], t[k - 1]));
    const double span = t.empty() ? 0 : t.back() - t.front();
    if (span / dt > 1e7) throw UsageError("--dt: more than 1e7 steps over --times");
    const sb::Snapshots s = sb::simulate_snapshots(system, th, m, x0_sd, t, n, sigma, dt, ctx.common.seed);
    check_stop();
    sb::save_snapshots(out, s);
    return {{"system", system.kind}, {"params", th}, {"names", system.names()}, {"times", t}, {"particles", n}, {"output", out}};
  }
  sb::DriftClass system;
  std::string params, x0, times, out;
  double x0_sd = 0.5, sigma = 0.1, dt = 0.02;
  int64_t n = 1000;
};
}  // namespace

void add_simulate(cli::Tool& tool) { tool.add<SimulateCommand>(); }
