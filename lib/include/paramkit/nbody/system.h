// Few-body gravitational systems in plain C++ doubles: bodies, units, accelerations (and jerks for
// Hermite), conserved quantities, the collision time scale, and initial conditions from CSV/JSON.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace paramkit::nbody {

using Vec3 = std::array<double, 3>;

struct Units {
  std::string name = "nbody";  // nbody (G = 1), msun-au-yr (G = 4 pi^2), or custom
  double G = 1.0;
};
// "nbody", "msun-au-yr"; UsageError otherwise.
Units units_named(const std::string& name);

struct System {
  double G = 1.0;
  double t = 0.0;
  std::vector<double> m;
  std::vector<Vec3> x, v;
  size_t n() const { return m.size(); }
};

// Accelerations (and jerks when jerk != nullptr) by direct summation; counts one force evaluation.
void accelerations(const System& s, std::vector<Vec3>& acc, std::vector<Vec3>* jerk = nullptr);
double kinetic_energy(const System& s);
double potential_energy(const System& s);
inline double energy(const System& s) { return kinetic_energy(s) + potential_energy(s); }
Vec3 momentum(const System& s);
Vec3 angular_momentum(const System& s);
// min over pairs of min(r/|v_rel|, sqrt(r^3 / (G (m_i + m_j)))).
double collision_time(const System& s);
// Moves to the centre-of-mass frame (position and velocity).
void to_center_of_mass(System& s);

// Initial conditions: CSV with columns m,x,y,z,vx,vy,vz (2-D files may omit z and vz), or JSON
// {"G": .., "units": .., "bodies": [{"m":..,"x":[..],"v":[..]}, ...]}. InputError (exit 2) for wrong
// column counts, non-finite values, non-positive masses and coincident bodies.
System read_initial_conditions(const std::string& path, const Units& units);
// The checks of read_initial_conditions on a system built in code (source names it in errors).
void validate(const System& s, const std::string& source);

// Classic test problems: "figure-eight" (Chenciner & Montgomery, G = m = 1), "pythagorean" (masses
// 3, 4, 5 at rest), "kepler" (two bodies, unit total mass, eccentricity e, apocentre start).
System named_problem(const std::string& name, double eccentricity = 0.5);

// Plummer sphere of n equal masses (total 1, G = 1, virial equilibrium), seeded.
System plummer_sphere(int n, uint64_t seed);

}  // namespace paramkit::nbody
