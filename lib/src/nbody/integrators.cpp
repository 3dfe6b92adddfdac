#include "paramkit/nbody/integrators.h"

#include <algorithm>
#include <cmath>

#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"

namespace paramkit::nbody {

void Integrator::check_budget() const {
  if (stop_on_signal) check_stop();
  if (max_force_evaluations > 0 && stats.force_evaluations > max_force_evaluations)
    throw Error(name() + ": more than " + std::to_string(max_force_evaluations) + " force evaluations");
  if (max_steps > 0 && stats.steps + stats.rejected_steps > max_steps)
    throw Error(name() + ": more than " + std::to_string(max_steps) + " steps (--max-steps) before the end time");
}

namespace {

// After every accepted step: a position or velocity that is no longer finite (bodies that met, for a
// fixed step that jumps onto the singularity) ends the run with its cause, not with NaN diagnostics.
void check_state(const System& s, const std::string& who) {
  for (size_t i = 0; i < s.n(); ++i)
    for (int k = 0; k < 3; ++k)
      if (!std::isfinite(s.x[i][k]) || !std::isfinite(s.v[i][k]))
        throw Error(who + ": body " + std::to_string(i + 1) + " has a non-finite " + (std::isfinite(s.x[i][k]) ? "velocity" : "position") +
                    " at t = " + std::to_string(s.t) + " (bodies met: a collision)");
}

void check_dt(double dt, double t, const std::string& who) {
  if (!(dt > 0) || !std::isfinite(dt) || t + dt == t)
    throw Error(who + ": the time step collapsed at t = " + std::to_string(t) + " (a collision or a singular configuration)");
}

class Hermite : public Integrator {
 public:
  explicit Hermite(double eta) : eta_(eta) {}
  std::string name() const override { return "hermite"; }
  void set_parameter(double p) override { eta_ = p; }
  double parameter() const override { return eta_; }
  void reset() override { have_ = false; }
  void integrate_to(System& s, double t_end) override {
    const size_t n = s.n();
    if (!have_ || a_.size() != n) {
      accelerations(s, a_, &j_);
      count_force_evaluation();
      have_ = true;
    }
    System p = s;
    std::vector<Vec3> a1, j1;
    while (s.t < t_end) {
      double dt = eta_ * collision_time(s);
      if (s.t + dt > t_end) dt = t_end - s.t;
      check_dt(dt, s.t, "hermite");
      const double dt2 = dt * dt / 2, dt3 = dt * dt * dt / 6;
      for (size_t i = 0; i < n; ++i)
        for (int k = 0; k < 3; ++k) {
          p.x[i][k] = s.x[i][k] + s.v[i][k] * dt + a_[i][k] * dt2 + j_[i][k] * dt3;
          p.v[i][k] = s.v[i][k] + a_[i][k] * dt + j_[i][k] * dt2;
        }
      accelerations(p, a1, &j1);
      count_force_evaluation();
      for (size_t i = 0; i < n; ++i)
        for (int k = 0; k < 3; ++k) {
          const double v1 = s.v[i][k] + (a_[i][k] + a1[i][k]) * dt / 2 + (j_[i][k] - j1[i][k]) * dt * dt / 12;
          s.x[i][k] += (s.v[i][k] + v1) * dt / 2 + (a_[i][k] - a1[i][k]) * dt * dt / 12;
          s.v[i][k] = v1;
        }
      s.t = (s.t + dt >= t_end) ? t_end : s.t + dt;
      a_.swap(a1);  // PEC: the forces at the predicted state start the next step
      j_.swap(j1);
      ++stats.steps;
      check_state(s, "hermite");
      check_budget();
    }
  }

 private:
  double eta_;
  bool have_ = false;
  std::vector<Vec3> a_, j_;
};

class Leapfrog : public Integrator {
 public:
  explicit Leapfrog(double dt) : dt_(dt) {}
  std::string name() const override { return "leapfrog"; }
  void set_parameter(double p) override { dt_ = p; }
  double parameter() const override { return dt_; }
  void reset() override { have_ = false; }
  void integrate_to(System& s, double t_end) override {
    const size_t n = s.n();
    if (!have_ || a_.size() != n) {
      accelerations(s, a_);
      count_force_evaluation();
      have_ = true;
    }
    while (s.t < t_end) {
      double dt = std::min(dt_, t_end - s.t);
      check_dt(dt, s.t, "leapfrog");
      for (size_t i = 0; i < n; ++i)
        for (int k = 0; k < 3; ++k) {
          s.v[i][k] += a_[i][k] * dt / 2;
          s.x[i][k] += s.v[i][k] * dt;
        }
      accelerations(s, a_);
      count_force_evaluation();
      for (size_t i = 0; i < n; ++i)
        for (int k = 0; k < 3; ++k) s.v[i][k] += a_[i][k] * dt / 2;
      s.t = (s.t + dt >= t_end) ? t_end : s.t + dt;
      ++stats.steps;
      check_state(s, "leapfrog");
      check_budget();
    }
  }

 private:
  double dt_;
  bool have_ = false;
  std::vector<Vec3> a_;
};

// Gauss-Radau spacings on [0, 1] (IAS15's nodes).
constexpr double kH[8] = {0.0,
                          0.0562625605369221464656521910318,
                          0.180240691736892364987579942780,
                          0.352624717113169637373907769648,
                          0.547153626330555383001448554766,
                          0.734210177215410531523210605558,
                          0.885320946839095768090359771030,
                          0.977520613561287501891174488626};

// Kahan's compensated sum: *cs carries what the last additions to *sum lost to rounding (the exact
// total is *sum - *cs), and is fed back into the next addition.
inline void add_compensated(double& sum, double& cs, double term) {
  const double y = term - cs;
  const double t = sum + y;
  cs = (t - sum) - y;
  sum = t;
}

class Ias15 : public Integrator {
 public:
  Ias15(double eps, bool compensated) : eps_(eps), compensated_(compensated) {
    // c[j][k]: the coefficient of h^(k+1) in h (h - h1) ... (h - hj), so b_k = sum_j c[j][k] g_j.
    for (int j = 0; j < 7; ++j) {
      std::vector<long double> poly = {0, 1};  // h
      for (int i = 1; i <= j; ++i) {
        std::vector<long double> next(poly.size() + 1, 0);
        for (size_t d = 0; d < poly.size(); ++d) {
          next[d + 1] += poly[d];
          next[d] -= poly[d] * kH[i];
        }
        poly = next;
      }
      for (int k = 0; k < 7; ++k) c_[j][k] = k + 1 < static_cast<int>(poly.size()) ? static_cast<double>(poly[k + 1]) : 0.0;
    }
  }
  std::string name() const override { return "ias15"; }
  void set_parameter(double p) override { eps_ = p; }
  double parameter() const override { return eps_; }
  void reset() override {
    dt_ = 0;
    have_b_ = false;
    forget_compensation();
  }
  void integrate_to(System& s, double t_end) override {
    adopt(s);
    if (dt_ <= 0) dt_ = 0.01 * collision_time(s);
    while (s.t < t_end) {
      // The time left, from the compensated time (the exact time is s.t - t_cs_).
      const double left = (t_end - s.t) + t_cs_;
      const bool last = dt_ >= left;
      const double dt_try = last ? left : dt_;
      check_dt(dt_try, s.t, "ias15");
      double dt_next;
      if (!step(s, dt_try, dt_next)) {
        ++stats.rejected_steps;
        dt_ = dt_next;
        check_budget();
        continue;
      }
      if (last) {
        s.t = t_end;
        t_cs_ = 0;
      } else if (compensated_) {
        add_compensated(s.t, t_cs_, dt_try);
      } else {
        s.t += dt_try;
      }
      t_last_ = s.t;
      // A shortened last step says nothing about the next natural step: keep the larger.
      dt_ = last ? std::max(dt_next, dt_) : dt_next;
      ++stats.steps;
      check_state(s, "ias15");
      check_budget();
    }
  }

 private:
  void forget_compensation() {
    std::fill(csx_.begin(), csx_.end(), 0.0);
    std::fill(csv_.begin(), csv_.end(), 0.0);
    t_cs_ = 0;
  }
  // The compensation terms belong to the values this integrator wrote; where the caller changed a
  // position, velocity or the time since (a new system, a kick), they are dropped for that value.
  void adopt(const System& s) {
    const size_t n3 = 3 * s.n();
    if (csx_.size() != n3) {
      csx_.assign(n3, 0.0);
      csv_.assign(n3, 0.0);
      x_last_.assign(n3, NAN);
      v_last_.assign(n3, NAN);
      t_cs_ = 0;
    }
    for (size_t q = 0; q < n3; ++q) {
      if (s.x[q / 3][q % 3] != x_last_[q]) csx_[q] = 0;
      if (s.v[q / 3][q % 3] != v_last_[q]) csv_[q] = 0;
    }
    if (s.t != t_last_) t_cs_ = 0;
  }

  // One step of dt. Returns false (rejected, s unchanged) when PRS23 asks for a much smaller step.
  bool step(System& s, double dt, double& dt_next) {
    const size_t n = s.n(), n3 = 3 * n;
    if (!have_b_ || b_[0].size() != n3) {
      for (int k = 0; k < 7; ++k) {
        b_[k].assign(n3, 0.0);
        e_[k].assign(n3, 0.0);
        g_[k].assign(n3, 0.0);
        csb_[k].assign(n3, 0.0);
      }
      have_b_ = true;
    }
    for (int k = 0; k < 7; ++k) std::fill(csb_[k].begin(), csb_[k].end(), 0.0);
    std::vector<Vec3>& acc = acc_;
    accelerations(s, acc);
    count_force_evaluation();
    x0_.resize(n3);
    v0_.resize(n3);
    a0_.resize(n3);
    std::vector<double>&x0 = x0_, &v0 = v0_, &a0 = a0_;
    for (size_t i = 0; i < n; ++i)
      for (int k = 0; k < 3; ++k) {
        x0[3 * i + k] = s.x[i][k];
        v0[3 * i + k] = s.v[i][k];
        a0[3 * i + k] = acc[i][k];
      }
    // g from b (unit upper-triangular c).
    for (size_t q = 0; q < n3; ++q)
      for (int j = 6; j >= 0; --j) {
        double v = b_[j][q];
        for (int l = j + 1; l < 7; ++l) v -= c_[l][j] * g_[l][q];
        g_[j][q] = v;
      }
    System& p = p_;
    p = s;
    double prev_error = INFINITY;
    for (int it = 0; it < 12; ++it) {
      double max_delta = 0, max_a = 0;
      for (int sub = 1; sub < 8; ++sub) {
        const double h = kH[sub];
        for (size_t q = 0; q < n3; ++q) {
          const double inner =
              a0[q] / 2 + h * (b_[0][q] / 6 + h * (b_[1][q] / 12 + h * (b_[2][q] / 20 + h * (b_[3][q] / 30 +
                          h * (b_[4][q] / 42 + h * (b_[5][q] / 56 + h * b_[6][q] / 72))))));
          // The displacement first, then the start, less what the start lost to rounding.
          p.x[q / 3][q % 3] = x0[q] + ((dt * h * v0[q] + dt * dt * h * h * inner) - csx_[q]);
        }
        accelerations(p, acc);
        count_force_evaluation();
        const int j = sub - 1;  // the g being updated
        for (size_t q = 0; q < n3; ++q) {
          const double at = acc[q / 3][q % 3];
          // Divided difference: g_j = (...((a - a0)/(h_s - h_0) - g_0)/(h_s - h_1) ... - g_{j-1})/(h_s - h_j).
          double v = (at - a0[q]) / (h - kH[0]);
          for (int l = 0; l < j; ++l) v = (v - g_[l][q]) / (h - kH[l + 1]);
          const double delta = v - g_[j][q];
          g_[j][q] = v;
          if (compensated_)
            for (int k = 0; k <= j; ++k) add_compensated(b_[k][q], csb_[k][q], c_[j][k] * delta);
          else
            for (int k = 0; k <= j; ++k) b_[k][q] += c_[j][k] * delta;
          if (sub == 7) {
            max_delta = std::max(max_delta, std::fabs(delta));
            max_a = std::max(max_a, std::fabs(at));
          }
        }
      }
      const double error = max_a > 0 ? max_delta / max_a : 0;
      if (error < 1e-16) break;
      if (it >= 2 && error >= prev_error) break;  // round-off floor: no more progress
      prev_error = error;
    }
    // PRS23 step rule from the b coefficients at the end of the step.
    double min_tau2 = INFINITY;
    for (size_t i = 0; i < n; ++i) {
      double a0i = 0, y2 = 0, y3 = 0, y4 = 0;
      for (int k = 0; k < 3; ++k) {
        a0i += a0[3 * i + k] * a0[3 * i + k];
        const size_t q = 3 * i + k;
        const double* b[7] = {&b_[0][q], &b_[1][q], &b_[2][q], &b_[3][q], &b_[4][q], &b_[5][q], &b_[6][q]};
        const double a1 = a0[q] + *b[0] + *b[1] + *b[2] + *b[3] + *b[4] + *b[5] + *b[6];
        const double d1 = *b[0] + 2 * *b[1] + 3 * *b[2] + 4 * *b[3] + 5 * *b[4] + 6 * *b[5] + 7 * *b[6];
        const double d2 = 2 * *b[1] + 6 * *b[2] + 12 * *b[3] + 20 * *b[4] + 30 * *b[5] + 42 * *b[6];
        y2 += a1 * a1;
        y3 += d1 * d1;
        y4 += d2 * d2;
      }
      // As REBOUND: a body without acceleration at the start (e.g. the figure-eight's middle body at
      // t = 0, by symmetry) sets no time scale.
      if (!std::isnormal(a0i)) continue;
      const double tau2 = 2 * y2 / (y3 + std::sqrt(y4 * y2));
      if (std::isnormal(tau2)) min_tau2 = std::min(min_tau2, tau2);
    }
    double dt_new = std::isfinite(min_tau2) ? std::sqrt(min_tau2) * dt * std::pow(eps_ * 5040.0, 1.0 / 7.0) : dt * 4;
    if (dt_new < 0.25 * dt) {
      // Rejected: rescale the polynomial to the smaller step and try again.
      const double r = dt_new / dt;
      for (int k = 0; k < 7; ++k) {
        const double f = std::pow(r, k + 1);
        for (size_t q = 0; q < n3; ++q) b_[k][q] *= f;
      }
      dt_next = dt_new;
      return false;
    }
    dt_new = std::min(dt_new, 4 * dt);
    // The end of the step. Compensated: each term of the series is added on its own, smallest first,
    // into the position and velocity with their carried compensation (the exact values are x - csx,
    // v - csv), so the round-off of the additions does not accumulate over the steps.
    const double dt2 = dt * dt;
    for (size_t q = 0; q < n3; ++q) {
      double x = x0[q], v = v0[q];
      if (compensated_) {
        double& cx = csx_[q];
        double& cv = csv_[q];
        add_compensated(x, cx, b_[6][q] / 72 * dt2);
        add_compensated(x, cx, b_[5][q] / 56 * dt2);
        add_compensated(x, cx, b_[4][q] / 42 * dt2);
        add_compensated(x, cx, b_[3][q] / 30 * dt2);
        add_compensated(x, cx, b_[2][q] / 20 * dt2);
        add_compensated(x, cx, b_[1][q] / 12 * dt2);
        add_compensated(x, cx, b_[0][q] / 6 * dt2);
        add_compensated(x, cx, a0[q] / 2 * dt2);
        add_compensated(x, cx, v0[q] * dt);
        add_compensated(v, cv, b_[6][q] / 8 * dt);
        add_compensated(v, cv, b_[5][q] / 7 * dt);
        add_compensated(v, cv, b_[4][q] / 6 * dt);
        add_compensated(v, cv, b_[3][q] / 5 * dt);
        add_compensated(v, cv, b_[2][q] / 4 * dt);
        add_compensated(v, cv, b_[1][q] / 3 * dt);
        add_compensated(v, cv, b_[0][q] / 2 * dt);
        add_compensated(v, cv, a0[q] * dt);
      } else {
        x += dt * v0[q] + dt2 * (a0[q] / 2 + b_[0][q] / 6 + b_[1][q] / 12 + b_[2][q] / 20 + b_[3][q] / 30 + b_[4][q] / 42 +
                                 b_[5][q] / 56 + b_[6][q] / 72);
        v += dt * (a0[q] + b_[0][q] / 2 + b_[1][q] / 3 + b_[2][q] / 4 + b_[3][q] / 5 + b_[4][q] / 6 + b_[5][q] / 7 + b_[6][q] / 8);
      }
      s.x[q / 3][q % 3] = x_last_[q] = x;
      s.v[q / 3][q % 3] = v_last_[q] = v;
    }
    // Predict the next step's b: the polynomial re-expanded at the end of this step, scaled to dt_new,
    // plus the correction the last prediction needed.
    const double r = dt_new / dt;
    if (r > 20) {
      for (int k = 0; k < 7; ++k) {
        std::fill(b_[k].begin(), b_[k].end(), 0.0);
        std::fill(e_[k].begin(), e_[k].end(), 0.0);
      }
    } else {
      const double q1 = r, q2 = q1 * q1, q3 = q2 * q1, q4 = q2 * q2, q5 = q4 * q1, q6 = q3 * q3, q7 = q6 * q1;
      for (size_t q = 0; q < n3; ++q) {
        double b0 = b_[0][q], b1 = b_[1][q], b2 = b_[2][q], b3 = b_[3][q], b4 = b_[4][q], b5 = b_[5][q], b6 = b_[6][q];
        double be[7];
        for (int k = 0; k < 7; ++k) be[k] = b_[k][q] - e_[k][q];
        e_[0][q] = q1 * (b6 * 7 + b5 * 6 + b4 * 5 + b3 * 4 + b2 * 3 + b1 * 2 + b0);
        e_[1][q] = q2 * (b6 * 21 + b5 * 15 + b4 * 10 + b3 * 6 + b2 * 3 + b1);
        e_[2][q] = q3 * (b6 * 35 + b5 * 20 + b4 * 10 + b3 * 4 + b2);
        e_[3][q] = q4 * (b6 * 35 + b5 * 15 + b4 * 5 + b3);
        e_[4][q] = q5 * (b6 * 21 + b5 * 6 + b4);
        e_[5][q] = q6 * (b6 * 7 + b5);
        e_[6][q] = q7 * b6;
        for (int k = 0; k < 7; ++k) b_[k][q] = e_[k][q] + be[k];
      }
    }
    dt_next = dt_new;
    return true;
  }

  double eps_;
  bool compensated_;
  double dt_ = 0;
  bool have_b_ = false;
  double c_[7][7] = {};
  std::vector<double> b_[7], g_[7], e_[7], csb_[7];
  // Compensation of the positions, velocities and time, carried from step to step, and the values
  // they belong to.
  std::vector<double> csx_, csv_, x_last_, v_last_;
  double t_cs_ = 0, t_last_ = NAN;
  // Scratch, kept to avoid allocations per step.
  std::vector<double> x0_, v0_, a0_;
  std::vector<Vec3> acc_;
  System p_;
};

class Rk45 : public Integrator {
 public:
  explicit Rk45(double tol) : tol_(tol) {}
  std::string name() const override { return "rk45"; }
  void set_parameter(double p) override { tol_ = p; }
  double parameter() const override { return tol_; }
  void reset() override { dt_ = 0; }
  void integrate_to(System& s, double t_end) override {
    const size_t n = s.n(), d = 6 * n;
    if (dt_ <= 0) dt_ = 0.01 * collision_time(s);
    auto pack = [&](const System& sys, std::vector<double>& y) {
      y.resize(d);
      for (size_t i = 0; i < n; ++i)
        for (int k = 0; k < 3; ++k) {
          y[6 * i + k] = sys.x[i][k];
          y[6 * i + 3 + k] = sys.v[i][k];
        }
    };
    System tmp = s;
    std::vector<Vec3> acc;
    auto deriv = [&](const std::vector<double>& y, std::vector<double>& f) {
      for (size_t i = 0; i < n; ++i)
        for (int k = 0; k < 3; ++k) tmp.x[i][k] = y[6 * i + k];
      accelerations(tmp, acc);
      count_force_evaluation();
      f.resize(d);
      for (size_t i = 0; i < n; ++i)
        for (int k = 0; k < 3; ++k) {
          f[6 * i + k] = y[6 * i + 3 + k];
          f[6 * i + 3 + k] = acc[i][k];
        }
    };
    static const double A[7][6] = {{0},
                                   {1.0 / 5},
                                   {3.0 / 40, 9.0 / 40},
                                   {44.0 / 45, -56.0 / 15, 32.0 / 9},
                                   {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
                                   {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
                                   {35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84}};
    static const double B5[7] = {35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84, 0};
    static const double B4[7] = {5179.0 / 57600, 0, 7571.0 / 16695, 393.0 / 640, -92097.0 / 339200, 187.0 / 2100, 1.0 / 40};
    std::vector<double> y, yn(d), yt(d), k[7];
    pack(s, y);
    while (s.t < t_end) {
      const bool last = s.t + dt_ >= t_end;
      const double dt = last ? t_end - s.t : dt_;
      check_dt(dt, s.t, "rk45");
      deriv(y, k[0]);
      for (int st = 1; st < 7; ++st) {
        for (size_t q = 0; q < d; ++q) {
          double acc_v = 0;
          for (int l = 0; l < st; ++l) acc_v += A[st][l] * k[l][q];
          yt[q] = y[q] + dt * acc_v;
        }
        deriv(yt, k[st]);
      }
      double err = 0;
      for (size_t q = 0; q < d; ++q) {
        double y5 = y[q], y4 = y[q];
        for (int l = 0; l < 7; ++l) {
          y5 += dt * B5[l] * k[l][q];
          y4 += dt * B4[l] * k[l][q];
        }
        yn[q] = y5;
        const double sc = tol_ + tol_ * std::max(std::fabs(y[q]), std::fabs(y5));
        err = std::max(err, std::fabs(y5 - y4) / sc);
      }
      const double factor = err > 0 ? std::clamp(0.9 * std::pow(err, -0.2), 0.2, 5.0) : 5.0;
      if (err > 1) {
        ++stats.rejected_steps;
        dt_ = dt * factor;
        check_budget();
        continue;
      }
      y.swap(yn);
      s.t = last ? t_end : s.t + dt;
      if (!last) dt_ = dt * factor;
      ++stats.steps;
      for (size_t q = 0; q < d; ++q)
        if (!std::isfinite(y[q]))
          throw Error("rk45: body " + std::to_string(q / 6 + 1) + " has a non-finite state at t = " + std::to_string(s.t) + " (bodies met: a collision)");
      check_budget();
    }
    for (size_t i = 0; i < n; ++i)
      for (int k2 = 0; k2 < 3; ++k2) {
        s.x[i][k2] = y[6 * i + k2];
        s.v[i][k2] = y[6 * i + 3 + k2];
      }
  }

 private:
  double tol_, dt_ = 0;
};

}  // namespace

const std::vector<std::string>& integrator_names() {
  static const std::vector<std::string> v = {"hermite", "leapfrog", "ias15", "rk45"};
  return v;
}

std::unique_ptr<Integrator> make_integrator(const std::string& name, double p) {
  if (name == "hermite") return std::make_unique<Hermite>(p > 0 ? p : 0.03);
  if (name == "leapfrog") return std::make_unique<Leapfrog>(p > 0 ? p : 1e-3);
  if (name == "ias15") return std::make_unique<Ias15>(p > 0 ? p : 1e-9, true);
  if (name == "rk45") return std::make_unique<Rk45>(p > 0 ? p : 1e-10);
  throw UsageError("unknown integrator '" + name + "' (hermite, leapfrog, ias15, rk45)");
}

std::unique_ptr<Integrator> make_ias15(double epsilon, bool compensated) {
  return std::make_unique<Ias15>(epsilon > 0 ? epsilon : 1e-9, compensated);
}

}  // namespace paramkit::nbody
