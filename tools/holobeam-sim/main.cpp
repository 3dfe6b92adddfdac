// holobeam-sim: beam alignment of holographic metasurface transceivers with fixed-budget bandits
// (HoloBeam, Ghosh, Hanawal & Zlatanov, INFOCOM 2024) against the baselines, by Monte Carlo.
#include "commands.h"

int main(int argc, char** argv) {
  paramkit::cli::Tool tool("holobeam-sim",
                           "Monte Carlo of fixed-budget beam alignment for N1 x N2 holographic metasurface transceivers: HoloBeam against "
                           "uniform allocation, Successive Rejects, Sequential Halving, UCB-E and the exhaustive sweep.");
  add_simulate(tool);
  add_sweep(tool);
  add_plot(tool);
  add_beam(tool);
  return tool.main(argc, argv);
}
