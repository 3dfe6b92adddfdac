// nbody-rl integrate: initial conditions in; trajectory (CSV or HDF5), diagnostics JSON and plots out,
// with a fixed step parameter or a trained policy choosing eta.
#include <algorithm>
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/provenance.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/io/csv.h"
#include "paramkit/io/json.h"
#include "paramkit/io/svg_plot.h"
#include "paramkit/io/tensor_store.h"
#include "paramkit/nbody/integrate.h"

using namespace paramkit;
using namespace paramkit::nbody;

namespace {

// .h5/.hdf5: datasets t [T], x and v [T, n, 3], energy_error [T]; otherwise CSV, a row per sample and body.
void write_trajectory(const std::string& path, const IntegrationResult& r) {
  const std::string ext = std::filesystem::path(path).extension().string();
  const size_t n = r.bodies, T = r.t.size();
  if (ext == ".h5" || ext == ".hdf5") {
    std::vector<TensorRecord> recs = {{"t", DType::F64, {static_cast<int64_t>(T)}},
                                      {"x", DType::F64, {static_cast<int64_t>(T), static_cast<int64_t>(n), 3}},
                                      {"v", DType::F64, {static_cast<int64_t>(T), static_cast<int64_t>(n), 3}},
                                      {"energy_error", DType::F64, {static_cast<int64_t>(T)}}};
    FillFn fill = [&](const TensorRecord& rec, void* dst) {
      double* p = static_cast<double*>(dst);
      if (rec.name == "t") std::copy(r.t.begin(), r.t.end(), p);
      else if (rec.name == "energy_error") std::copy(r.energy_error.begin(), r.energy_error.end(), p);
      else
        for (size_t i = 0; i < T; ++i)
          for (size_t b = 0; b < n; ++b)
            for (int k = 0; k < 3; ++k) *p++ = (rec.name == "x" ? r.x : r.v)[i][b][k];
    };
    write_tensors(path, StoreFormat::hdf5, recs, fill, provenance_metadata());
    return;
  }
  std::vector<double> cols[9];
  for (size_t i = 0; i < T; ++i)
    for (size_t b = 0; b < n; ++b) {
      const double row[9] = {r.t[i],       static_cast<double>(b), r.x[i][b][0], r.x[i][b][1], r.x[i][b][2],
                             r.v[i][b][0], r.v[i][b][1],           r.v[i][b][2], r.energy_error[i]};
      for (int c = 0; c < 9; ++c) cols[c].push_back(row[c]);
    }
  Table t;
  t.rows = T * n;
  const char* names[] = {"t", "body", "x", "y", "z", "vx", "vy", "vz", "energy_error"};
  for (int c = 0; c < 9; ++c) t.columns.push_back(numeric_column(names[c], cols[c]));
  write_csv(path, t);
}

// Orbits in the x-y plane, the first 12 bodies.
void plot_orbits(const std::string& path, const IntegrationResult& r) {
  std::vector<PlotSeries> series;
  for (size_t b = 0; b < r.bodies && b < 12; ++b) {
    PlotSeries ps;
    ps.label = "body " + std::to_string(b + 1);
    for (const auto& x : r.x) {
      ps.x.push_back(x[b][0]);
      ps.y.push_back(x[b][1]);
    }
    series.push_back(ps);
  }
  PlotOptions po;
  po.title = "orbits: " + r.source + " (" + r.integrator + ")";
  po.x_label = "x";
  po.y_label = "y";
  po.equal_aspect = true;
  write_file_atomic(path, svg_plot(series, po));
}

void plot_energy(const std::string& path, const IntegrationResult& r) {
  PlotSeries ps;
  ps.label = r.integrator;
  for (size_t i = 1; i < r.t.size(); ++i) {
    ps.x.push_back(r.t[i]);
    ps.y.push_back(std::max(r.energy_error[i], 1e-17));
  }
  PlotOptions po;
  po.title = "relative energy error: " + r.source;
  po.x_label = "t";
  po.y_label = "|E - E0| / |E0|";
  po.log_y = true;
  write_file_atomic(path, svg_plot({ps}, po));
}

struct IntegrateCommand : cli::TypedCommand<IntegrationResult> {
  IntegrateCommand()
      : TypedCommand("integrate", "Integrate initial conditions; trajectory, diagnostics and plots out",
                     "nbody-rl integrate --problem figure-eight --integrator ias15 --t-end 6.32591398 --diagnostics /tmp/fig8.json "
                     "--plot-orbits /tmp/fig8.svg") {}
  void add_options(CLI::App& app) override {
    app.add_option("input", o.input, "Initial conditions: CSV (m,x,y,z,vx,vy,vz or m,x,y,vx,vy) or JSON");
    app.add_option("--problem", o.problem,
                   "Or a named problem: figure-eight, pythagorean, kepler, paper:SEED (the RL environment's initial conditions), "
                   "plummer:N[:SEED]");
    app.add_option("--units", o.units, "nbody (G = 1) or msun-au-yr (G = 4 pi^2)")->capture_default_str();
    app.add_option("--integrator", o.integrator, "hermite, leapfrog, ias15 or rk45")->capture_default_str();
    app.add_option_function<double>(
        "--param", [this](double p) { o.parameter = p; },
        "hermite: eta (0.03, in (0, 10]); leapfrog: dt (1e-3); ias15: epsilon (1e-9, in (0, 1]); rk45: tolerance (1e-10, in (0, 1])");
    app.add_option("--policy", o.policy, "A policy from 'nbody-rl train' chooses eta every --decision-interval (three bodies)");
    app.add_option("--decision-interval", o.decision_interval, "Time between policy decisions")->capture_default_str();
    app.add_option("--t-end", o.t_end, "End time")->capture_default_str();
    app.add_option("--output-every", o.output_every, "Trajectory sampling interval (default: 200 samples)");
    app.add_option("--max-steps", o.max_steps, "Steps (accepted and rejected) before the run fails with exit 1; a fixed-step run that needs more is refused")
        ->capture_default_str();
    cli::add_output(app, out, "Trajectory: .csv (t,body,x,y,z,vx,vy,vz,energy_error) or .h5 (t, x, v, energy_error)", false);
    cli::add_output_file(app, "--diagnostics", diagnostics, "Diagnostics JSON (energy, angular momentum, errors, work, wall time)");
    cli::add_output_file(app, "--plot-orbits", orbits, "Orbits in the x-y plane (SVG)");
    cli::add_output_file(app, "--plot-energy", energy_plot, "Relative energy error over time (SVG)");
  }
  IntegrationResult run(cli::Context& ctx) override {
    IntegrationResult r;
    {
      auto t = ctx.timers.scope("integrate");
      r = run_integration(o);
    }
    auto t = ctx.timers.scope("write");
    if (!out.empty()) write_trajectory(out, r);
    if (!diagnostics.empty()) write_report(diagnostics, r);
    if (!orbits.empty()) plot_orbits(orbits, r);
    if (!energy_plot.empty()) plot_energy(energy_plot, r);
    // Without a file to write to, the diagnostics are the data on stdout.
    if (diagnostics.empty() && out.empty()) std::cout << nlohmann::json(r).dump(2) << "\n";
    return r;
  }
  IntegrateOptions o;
  std::string out, diagnostics, orbits, energy_plot;
};

}  // namespace

void add_integrate(cli::Tool& tool) { tool.add<IntegrateCommand>(); }
