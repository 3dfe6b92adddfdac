// The environment and the algorithms.
#include "paramkit/beam/bandit.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "paramkit/core/error.h"

namespace paramkit::beam {

Environment::Environment(const Channel& c, double s1, double s2, int64_t budget, uint64_t seed)
    : c_(c), s1_(s1), s2_(s2), budget_(budget), rng_(seed) {}

double Environment::pull(int64_t i, int64_t j) {
  if (spent_ >= budget_) throw Error(fmt::format("beam: a pilot beyond the budget of {}", budget_));
  ++spent_;
  const double g = c_.gain(i, j, s1_, s2_);
  const double e = normal_(rng_);
  if (c_.noise == "lognormal") return g * std::pow(10.0, c_.sigma * e / 10);
  return g + c_.sigma * e;
}

namespace {
using Means = std::vector<double>;
constexpr double kNone = -std::numeric_limits<double>::infinity();

int64_t argmax(const Means& m) { return static_cast<int64_t>(std::max_element(m.begin(), m.end()) - m.begin()); }
Arm arm_of(const Channel& c, int64_t k) { return {k / c.k2(), k % c.k2()}; }

// Best arm of the full K1 K2 grid with every arm pulled as evenly as the budget allows.
class Uniform : public Algorithm {
 public:
  std::string name() const override { return "uniform"; }
  Arm run(Environment& env) override {
    const Channel& c = env.channel();
    const int64_t K = c.k1() * c.k2();
    Means sum(static_cast<size_t>(K), 0.0);
    std::vector<int64_t> cnt(static_cast<size_t>(K), 0);
    for (int64_t t = 0; env.left() > 0; ++t) {
      const int64_t k = t % K;
      const Arm a = arm_of(c, k);
      sum[static_cast<size_t>(k)] += env.pull(a.i, a.j);
      ++cnt[static_cast<size_t>(k)];
    }
    Means m(static_cast<size_t>(K), kNone);
    for (int64_t k = 0; k < K; ++k)
      if (cnt[static_cast<size_t>(k)]) m[static_cast<size_t>(k)] = sum[static_cast<size_t>(k)] / static_cast<double>(cnt[static_cast<size_t>(k)]);
    return arm_of(c, argmax(m));
  }
};

// One measurement per arm (the classic beam sweep; K1 K2 pilots at most, whatever the budget).
class Exhaustive : public Algorithm {
 public:
  std::string name() const override { return "exhaustive"; }
  Arm run(Environment& env) override {
    const Channel& c = env.channel();
    const int64_t K = c.k1() * c.k2();
    Means m(static_cast<size_t>(K), kNone);
    for (int64_t k = 0; k < K && env.left() > 0; ++k) {
      const Arm a = arm_of(c, k);
      m[static_cast<size_t>(k)] = env.pull(a.i, a.j);
    }
    return arm_of(c, argmax(m));
  }
};

// Successive Rejects (Audibert & Bubeck 2010) over K arms with pull(k, t).
template <class Pull>
int64_t successive_rejects(int64_t K, int64_t n, Pull&& pull) {
  std::vector<int64_t> active(static_cast<size_t>(K));
  std::iota(active.begin(), active.end(), 0);
  Means sum(static_cast<size_t>(K), 0.0);
  std::vector<int64_t> cnt(static_cast<size_t>(K), 0);
  if (K == 1) return 0;
  double logbar = 0.5;
  for (int64_t i = 2; i <= K; ++i) logbar += 1.0 / static_cast<double>(i);
  int64_t prev = 0, used = 0;
  for (int64_t k = 1; k < K; ++k) {
    const int64_t nk = static_cast<int64_t>(std::ceil(static_cast<double>(std::max<int64_t>(0, n - K)) / (logbar * static_cast<double>(K + 1 - k))));
    const int64_t more = std::max<int64_t>(nk - prev, k == 1 ? 1 : 0);
    for (int64_t a : active)
      for (int64_t t = 0; t < more && used < n; ++t, ++used) {
        sum[static_cast<size_t>(a)] += pull(a, cnt[static_cast<size_t>(a)]);
        ++cnt[static_cast<size_t>(a)];
      }
    prev = std::max(prev, nk);
    auto mean = [&](int64_t a) { return cnt[static_cast<size_t>(a)] ? sum[static_cast<size_t>(a)] / static_cast<double>(cnt[static_cast<size_t>(a)]) : kNone; };
    const auto worst = std::min_element(active.begin(), active.end(), [&](int64_t x, int64_t y) { return mean(x) < mean(y); });
    active.erase(worst);
  }
  return active.front();
}

// Sequential Halving (Karnin, Koren & Somekh 2013) over K arms: ceil(log2 K) rounds, the budget split
// evenly over rounds and the arms of each round, the better half kept (means within the round).
template <class Pull>
int64_t sequential_halving(int64_t K, int64_t n, Pull&& pull) {
  std::vector<int64_t> active(static_cast<size_t>(K));
  std::iota(active.begin(), active.end(), 0);
  const int64_t R = static_cast<int64_t>(std::ceil(std::log2(static_cast<double>(std::max<int64_t>(K, 2)))));
  int64_t used = 0;
  for (int64_t r = 0; r < R && active.size() > 1; ++r) {
    const int64_t each = std::max<int64_t>(1, n / (static_cast<int64_t>(active.size()) * R));
    std::vector<std::pair<double, int64_t>> m;
    for (int64_t a : active) {
      double s = 0;
      int64_t c = 0;
      for (int64_t t = 0; t < each && used < n; ++t, ++used, ++c) s += pull(a, t);
      m.push_back({c ? s / static_cast<double>(c) : kNone, a});
    }
    std::stable_sort(m.begin(), m.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
    active.clear();
    for (size_t k = 0; k < (m.size() + 1) / 2; ++k) active.push_back(m[k].second);
  }
  return active.front();
}

// UCB-E (Audibert & Bubeck 2010): each arm once, then the arm maximising mean + sqrt(a / T); a = c n / K
// (the paper's a depends on the unknown complexity H; c is --ucbe-a).
class UcbE : public Algorithm {
 public:
  explicit UcbE(double c) : c_(c) {}
  std::string name() const override { return "ucbe"; }
  Arm run(Environment& env) override {
    const Channel& ch = env.channel();
    const int64_t K = ch.k1() * ch.k2();
    const double a = c_ * static_cast<double>(env.budget()) / static_cast<double>(K);
    Means sum(static_cast<size_t>(K), 0.0);
    std::vector<int64_t> cnt(static_cast<size_t>(K), 0);
    for (int64_t k = 0; k < K && env.left() > 0; ++k) {
      const Arm x = arm_of(ch, k);
      sum[static_cast<size_t>(k)] += env.pull(x.i, x.j);
      cnt[static_cast<size_t>(k)] = 1;
    }
    while (env.left() > 0) {
      int64_t best = 0;
      double bv = kNone;
      for (int64_t k = 0; k < K; ++k) {
        const double v = sum[static_cast<size_t>(k)] / static_cast<double>(cnt[static_cast<size_t>(k)]) + std::sqrt(a / static_cast<double>(cnt[static_cast<size_t>(k)]));
        if (v > bv) bv = v, best = k;
      }
      const Arm x = arm_of(ch, best);
      sum[static_cast<size_t>(best)] += env.pull(x.i, x.j);
      ++cnt[static_cast<size_t>(best)];
    }
    Means m(static_cast<size_t>(K), kNone);
    for (int64_t k = 0; k < K; ++k)
      if (cnt[static_cast<size_t>(k)]) m[static_cast<size_t>(k)] = sum[static_cast<size_t>(k)] / static_cast<double>(cnt[static_cast<size_t>(k)]);
    return arm_of(ch, argmax(m));
  }

 private:
  double c_;
};

class Full2D : public Algorithm {
 public:
  explicit Full2D(bool halving) : halving_(halving) {}
  std::string name() const override { return halving_ ? "sh" : "sr"; }
  Arm run(Environment& env) override {
    const Channel& c = env.channel();
    const int64_t K = c.k1() * c.k2();
    auto pull = [&](int64_t k, int64_t) {
      const Arm a = arm_of(c, k);
      return env.pull(a.i, a.j);
    };
    return arm_of(c, halving_ ? sequential_halving(K, env.budget(), pull) : successive_rejects(K, env.budget(), pull));
  }

 private:
  bool halving_;
};

// The two-phase structure shared by HoloBeam and the per-parameter baselines: phase 1 (half the budget)
// learns psi1 while psi2 sweeps its grid cyclically, every arm seeing the same psi2 sequence (its t-th
// pull at psi2 index (offset + t) mod K2), so that the mean of arm i is proportional to the psi1 factor
// whatever the receiver's psi2; phase 2 (the rest) learns psi2 at the chosen psi1.
class TwoPhase : public Algorithm {
 public:
  explicit TwoPhase(std::string kind) : kind_(std::move(kind)) {}
  std::string name() const override { return kind_ == "unimodal" ? "holobeam" : kind_ + "-1d"; }
  Arm run(Environment& env) override {
    const Channel& c = env.channel();
    const int64_t b1 = env.budget() / 2;
    const int64_t offset = 0;
    auto phase1 = [&](int64_t i, int64_t t) { return env.pull(i, (offset + t) % c.k2()); };
    const int64_t i = search(c.k1(), b1, phase1);
    auto phase2 = [&](int64_t j, int64_t) { return env.pull(i, j); };
    const int64_t j = search(c.k2(), env.left(), phase2);
    return {i, j};
  }

 private:
  template <class Pull>
  int64_t search(int64_t n, int64_t budget, Pull&& pull) {
    if (kind_ == "unimodal") return unimodal_search(n, budget, pull);
    if (kind_ == "sr") return successive_rejects(n, budget, pull);
    return sequential_halving(n, budget, pull);
  }
  std::string kind_;
};
}  // namespace

std::vector<std::string> algorithm_names() { return {"holobeam", "uniform", "sr", "sh", "sr-1d", "sh-1d", "ucbe", "exhaustive"}; }

std::unique_ptr<Algorithm> make_algorithm(const std::string& name, double ucbe_a) {
  if (name == "holobeam") return std::make_unique<TwoPhase>("unimodal");
  if (name == "sr-1d") return std::make_unique<TwoPhase>("sr");
  if (name == "sh-1d") return std::make_unique<TwoPhase>("sh");
  if (name == "uniform") return std::make_unique<Uniform>();
  if (name == "exhaustive") return std::make_unique<Exhaustive>();
  if (name == "sr") return std::make_unique<Full2D>(false);
  if (name == "sh") return std::make_unique<Full2D>(true);
  if (name == "ucbe") {
    if (!(ucbe_a > 0) || !std::isfinite(ucbe_a)) throw UsageError("--ucbe-a must be positive");
    return std::make_unique<UcbE>(ucbe_a);
  }
  throw UsageError(fmt::format("algorithm '{}': expected one of holobeam, uniform, sr, sh, sr-1d, sh-1d, ucbe, exhaustive", name));
}

}  // namespace paramkit::beam
