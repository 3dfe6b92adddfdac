// holobeam-sim beam: the gain pattern of one configuration (psi1, psi2) as a heat map over the receiver's
// direction (s1, s2) in [0, 2 pi)^2: the normalised RSS |D_N1(psi1 - s1)|^2 |D_N2(psi2 - s2)|^2 /
// (N1^2 N2^2), in dB (floor -40 dB), as a PNG.
#include <fmt/format.h>

#include <cmath>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/io/png.h"

using namespace paramkit;

namespace {
// A perceptual-ish ramp: dark blue -> teal -> yellow.
void colour(double v, uint8_t* rgb) {
  v = std::clamp(v, 0.0, 1.0);
  const double r = std::clamp(-0.2 + 1.5 * v * v, 0.0, 1.0), g = std::clamp(0.05 + 0.9 * v, 0.0, 1.0), b = std::clamp(0.35 + 0.6 * std::sin(M_PI * v) - 0.3 * v, 0.0, 1.0);
  rgb[0] = static_cast<uint8_t>(std::lround(255 * r));
  rgb[1] = static_cast<uint8_t>(std::lround(255 * g));
  rgb[2] = static_cast<uint8_t>(std::lround(255 * b));
}

struct BeamCommand : cli::Command {
  BeamCommand()
      : Command("beam", "The gain pattern of one configuration over the receiver direction, as a PNG heat map (dB)",
                "holobeam-sim beam --n1 8 --n2 8 --i 2 --j 5 -o /tmp/beam.png") {}
  void add_options(CLI::App& app) override {
    add_channel_flags(app, c);
    app.add_option("--i", i, "Grid index of psi1")->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
    app.add_option("--j", j, "Grid index of psi2")->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
    app.add_option("--resolution", res, "Pixels per side")->capture_default_str()->check(CLI::Range(int64_t{8}, int64_t{4096}));
    app.add_option("--floor-db", floor_db, "The colour scale's lower end (dB below the peak)")->capture_default_str()->check(CLI::Range(-300.0, -1.0));
    cli::add_output(app, out, "The heat map (PNG)");
  }
  nlohmann::json execute(cli::Context&) override {
    c.validate();
    if (i >= c.k1() || j >= c.k2()) throw UsageError(fmt::format("--i/--j: the grid has {} x {} values", c.k1(), c.k2()));
    Image8 im;
    im.width = im.height = res;
    im.channels = 3;
    im.pixels.resize(static_cast<size_t>(res * res * 3));
    double peak = 0;
    for (int64_t y = 0; y < res; ++y)
      for (int64_t x = 0; x < res; ++x) {
        const double s1 = 2 * M_PI * (static_cast<double>(x) + 0.5) / static_cast<double>(res);
        const double s2 = 2 * M_PI * (static_cast<double>(res - 1 - y) + 0.5) / static_cast<double>(res);
        const double g = c.gain(i, j, s1, s2);
        peak = std::max(peak, g);
        const double db = 10 * std::log10(std::max(g, 1e-30));
        colour(1 - db / floor_db, &im.pixels[static_cast<size_t>((y * res + x) * 3)]);
      }
    write_png(out, im);
    return {{"psi1", c.psi1(i)}, {"psi2", c.psi2(j)}, {"peak_normalised_rss", peak}, {"output", out}};
  }
  beam::Channel c;
  int64_t i = 0, j = 0, res = 256;
  double floor_db = -40;
  std::string out;
};
}  // namespace

void add_beam(cli::Tool& tool) { tool.add<BeamCommand>(); }
