#include "paramkit/nbody/system.h"

#include <cmath>
#include <sstream>

#include "paramkit/core/error.h"
#include "paramkit/core/rng.h"
#include "paramkit/io/csv.h"
#include "paramkit/io/json.h"

namespace paramkit::nbody {

Units units_named(const std::string& name) {
  if (name == "nbody") return {"nbody", 1.0};
  if (name == "msun-au-yr") return {"msun-au-yr", 4 * M_PI * M_PI};
  throw UsageError("unknown units '" + name + "' (nbody, msun-au-yr)");
}

void accelerations(const System& s, std::vector<Vec3>& acc, std::vector<Vec3>* jerk) {
  const size_t n = s.n();
  acc.assign(n, Vec3{0, 0, 0});
  if (jerk) jerk->assign(n, Vec3{0, 0, 0});
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i + 1; j < n; ++j) {
      const double dx = s.x[j][0] - s.x[i][0], dy = s.x[j][1] - s.x[i][1], dz = s.x[j][2] - s.x[i][2];
      const double r2 = dx * dx + dy * dy + dz * dz;
      const double inv_r = 1 / std::sqrt(r2), inv_r3 = inv_r * inv_r * inv_r;
      const double fi = s.G * s.m[j] * inv_r3, fj = s.G * s.m[i] * inv_r3;
      acc[i][0] += fi * dx, acc[i][1] += fi * dy, acc[i][2] += fi * dz;
      acc[j][0] -= fj * dx, acc[j][1] -= fj * dy, acc[j][2] -= fj * dz;
      if (jerk) {
        const double dvx = s.v[j][0] - s.v[i][0], dvy = s.v[j][1] - s.v[i][1], dvz = s.v[j][2] - s.v[i][2];
        const double rv = 3 * (dx * dvx + dy * dvy + dz * dvz) / r2;
        const double jx = dvx - rv * dx, jy = dvy - rv * dy, jz = dvz - rv * dz;
        (*jerk)[i][0] += fi * jx, (*jerk)[i][1] += fi * jy, (*jerk)[i][2] += fi * jz;
        (*jerk)[j][0] -= fj * jx, (*jerk)[j][1] -= fj * jy, (*jerk)[j][2] -= fj * jz;
      }
    }
}

double kinetic_energy(const System& s) {
  double k = 0;
  for (size_t i = 0; i < s.n(); ++i) k += 0.5 * s.m[i] * (s.v[i][0] * s.v[i][0] + s.v[i][1] * s.v[i][1] + s.v[i][2] * s.v[i][2]);
  return k;
}

double potential_energy(const System& s) {
  double u = 0;
  for (size_t i = 0; i < s.n(); ++i)
    for (size_t j = i + 1; j < s.n(); ++j) {
      const double dx = s.x[j][0] - s.x[i][0], dy = s.x[j][1] - s.x[i][1], dz = s.x[j][2] - s.x[i][2];
      u -= s.G * s.m[i] * s.m[j] / std::sqrt(dx * dx + dy * dy + dz * dz);
    }
  return u;
}

Vec3 momentum(const System& s) {
  Vec3 p{0, 0, 0};
  for (size_t i = 0; i < s.n(); ++i)
    for (int k = 0; k < 3; ++k) p[k] += s.m[i] * s.v[i][k];
  return p;
}

Vec3 angular_momentum(const System& s) {
  Vec3 l{0, 0, 0};
  for (size_t i = 0; i < s.n(); ++i) {
    const Vec3 &r = s.x[i], &v = s.v[i];
    l[0] += s.m[i] * (r[1] * v[2] - r[2] * v[1]);
    l[1] += s.m[i] * (r[2] * v[0] - r[0] * v[2]);
    l[2] += s.m[i] * (r[0] * v[1] - r[1] * v[0]);
  }
  return l;
}

double collision_time(const System& s) {
  double tau = INFINITY;
  for (size_t i = 0; i < s.n(); ++i)
    for (size_t j = i + 1; j < s.n(); ++j) {
      double r2 = 0, v2 = 0;
      for (int k = 0; k < 3; ++k) {
        const double dx = s.x[j][k] - s.x[i][k], dv = s.v[j][k] - s.v[i][k];
        r2 += dx * dx;
        v2 += dv * dv;
      }
      const double r = std::sqrt(r2);
      if (v2 > 0) tau = std::min(tau, r / std::sqrt(v2));
      tau = std::min(tau, std::sqrt(r * r2 / (s.G * (s.m[i] + s.m[j]))));
    }
  return tau;
}

void to_center_of_mass(System& s) {
  double mt = 0;
  Vec3 xc{0, 0, 0}, vc{0, 0, 0};
  for (size_t i = 0; i < s.n(); ++i) {
    mt += s.m[i];
    for (int k = 0; k < 3; ++k) {
      xc[k] += s.m[i] * s.x[i][k];
      vc[k] += s.m[i] * s.v[i][k];
    }
  }
  for (size_t i = 0; i < s.n(); ++i)
    for (int k = 0; k < 3; ++k) {
      s.x[i][k] -= xc[k] / mt;
      s.v[i][k] -= vc[k] / mt;
    }
}

void validate(const System& s, const std::string& source) {
  if (s.n() < 2) throw InputError(source, "bodies", "need at least two bodies, got " + std::to_string(s.n()));
  if (!(s.G > 0) || !std::isfinite(s.G)) throw InputError(source, "G", "must be positive and finite");
  for (size_t i = 0; i < s.n(); ++i) {
    const std::string b = "body " + std::to_string(i + 1);
    if (!std::isfinite(s.m[i]) || s.m[i] <= 0) throw InputError(source, b + ": m", "mass must be positive and finite");
    for (int k = 0; k < 3; ++k)
      if (!std::isfinite(s.x[i][k]) || !std::isfinite(s.v[i][k])) throw InputError(source, b, "non-finite position or velocity");
  }
  for (size_t i = 0; i < s.n(); ++i)
    for (size_t j = i + 1; j < s.n(); ++j)
      if (s.x[i] == s.x[j])
        throw InputError(source, "bodies " + std::to_string(i + 1) + " and " + std::to_string(j + 1), "coincide (zero separation)");
}

System read_initial_conditions(const std::string& path, const Units& units) {
  System s;
  s.G = units.G;
  const bool json = path.size() > 5 && path.substr(path.size() - 5) == ".json";
  if (json) {
    nlohmann::json j = read_json(path);
    try {
      if (j.contains("units")) s.G = units_named(j["units"].get<std::string>()).G;
      if (j.contains("G")) s.G = j["G"].get<double>();
      const auto& bodies = json_field(j, "bodies", path);
      for (size_t i = 0; i < bodies.size(); ++i) {
        const auto& b = bodies[i];
        const std::string f = "bodies[" + std::to_string(i) + "]";
        auto vec = [&](const char* key) {
          Vec3 out{0, 0, 0};
          const auto& a = json_field(b, key, path);
          if (!a.is_array() || a.size() < 2 || a.size() > 3) throw InputError(path, f + "." + key, "expected 2 or 3 numbers");
          for (size_t k = 0; k < a.size(); ++k) out[k] = a[k].get<double>();
          return out;
        };
        s.m.push_back(json_field(b, "m", path).get<double>());
        s.x.push_back(vec("x"));
        s.v.push_back(vec("v"));
      }
    } catch (const nlohmann::json::exception& e) {
      throw InputError(path, "", std::string("malformed initial conditions: ") + e.what());
    }
  } else {
    Table t = read_csv(path);
    const bool three = t.has("z");
    const std::vector<std::string> want = three ? std::vector<std::string>{"m", "x", "y", "z", "vx", "vy", "vz"}
                                                : std::vector<std::string>{"m", "x", "y", "vx", "vy"};
    if (t.columns.size() != want.size()) {
      std::string w;
      for (const auto& c : want) w += (w.empty() ? "" : ",") + c;
      throw InputError(path, "header", "expected the " + std::to_string(want.size()) + " columns " + w + ", got " + std::to_string(t.columns.size()));
    }
    for (const auto& c : want) {
      const Column& col = t.numeric(c);
      for (size_t r = 0; r < t.rows; ++r)
        if (col.missing[r]) throw InputError(path, "column '" + c + "', data row " + std::to_string(r + 1), "missing value");
    }
    for (size_t r = 0; r < t.rows; ++r) {
      auto v = [&](const char* c) { return t.numeric(c).values[r]; };
      s.m.push_back(v("m"));
      s.x.push_back({v("x"), v("y"), three ? v("z") : 0.0});
      s.v.push_back({v("vx"), v("vy"), three ? v("vz") : 0.0});
    }
  }
  validate(s, path);
  return s;
}

System named_problem(const std::string& name, double e) {
  System s;
  if (name == "figure-eight") {
    s.m = {1, 1, 1};
    s.x = {{0.97000436, -0.24308753, 0}, {-0.97000436, 0.24308753, 0}, {0, 0, 0}};
    const Vec3 v3{-0.93240737, -0.86473146, 0};
    s.v = {{-v3[0] / 2, -v3[1] / 2, 0}, {-v3[0] / 2, -v3[1] / 2, 0}, v3};
  } else if (name == "pythagorean") {
    s.m = {3, 4, 5};
    s.x = {{1, 3, 0}, {-2, -1, 0}, {1, -1, 0}};
    s.v = {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}};
  } else if (name == "kepler") {
    // Relative orbit with semi-major axis 1, G M = 1, started at apocentre; then the CM frame.
    const double ra = 1 + e, va = std::sqrt((1 - e) / (1 + e));
    s.m = {0.5, 0.5};
    s.x = {{-ra / 2, 0, 0}, {ra / 2, 0, 0}};
    s.v = {{0, -va / 2, 0}, {0, va / 2, 0}};
  } else {
    throw UsageError("unknown problem '" + name + "' (figure-eight, pythagorean, kepler)");
  }
  return s;
}

System plummer_sphere(int n, uint64_t seed) {
  Rng rng(seed);
  System s;
  s.G = 1;
  const double a = 3 * M_PI / 16;  // Plummer scale radius in N-body units (E = -1/4)
  for (int i = 0; i < n; ++i) {
    s.m.push_back(1.0 / n);
    double r = a / std::sqrt(std::pow(rng.uniform() * 0.999 + 1e-9, -2.0 / 3.0) - 1);
    auto dir = [&](double len) {
      const double z = 2 * rng.uniform() - 1, ph = 2 * M_PI * rng.uniform(), q = std::sqrt(1 - z * z);
      return Vec3{len * q * std::cos(ph), len * q * std::sin(ph), len * z};
    };
    s.x.push_back(dir(r));
    // Speed by von Neumann rejection on q^2 (1 - q^2)^3.5, q = v / v_escape.
    double q = 0;
    for (;;) {
      q = rng.uniform();
      if (0.1 * rng.uniform() < q * q * std::pow(1 - q * q, 3.5)) break;
    }
    const double ve = std::sqrt(2.0) * std::pow(1 + r * r / (a * a), -0.25) / std::sqrt(a);
    s.v.push_back(dir(q * ve));
  }
  to_center_of_mass(s);
  return s;
}

}  // namespace paramkit::nbody
