// Monte Carlo trials in threads, deterministic per trial.
#include "paramkit/beam/montecarlo.h"

#include <fmt/format.h>

#include <atomic>
#include <mutex>
#include <cmath>
#include <thread>

#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"

namespace paramkit::beam {

std::pair<double, double> wilson(int64_t k, int64_t n, double z) {
  if (n <= 0) return {0.0, 1.0};
  const double p = static_cast<double>(k) / static_cast<double>(n), nn = static_cast<double>(n), z2 = z * z;
  const double centre = (p + z2 / (2 * nn)) / (1 + z2 / nn);
  const double half = z / (1 + z2 / nn) * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
  return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

nlohmann::json to_json(const TrialStats& s) {
  return {{"algorithm", s.algorithm}, {"trials", s.trials},       {"errors", s.errors},       {"p_error", s.p_error},
          {"ci_low", s.ci_low},       {"ci_high", s.ci_high},     {"mean_gain", s.mean_gain}, {"mean_rate", s.mean_rate},
          {"mean_regret", s.mean_regret}, {"max_spent", s.max_spent}};
}

void MonteCarloOptions::validate() const {
  channel.validate();
  if (budget < 1 || budget > int64_t{1} << 40) throw UsageError(fmt::format("--budget {} is outside [1, 2^40]", budget));
  if (trials < 1 || trials > int64_t{1} << 40) throw UsageError(fmt::format("--trials {} is outside [1, 2^40]", trials));
  if (threads < 1 || threads > 1024) throw UsageError("--threads must be in [1, 1024]");
}

uint64_t trial_seed(uint64_t seed, int64_t trial) {
  uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (static_cast<uint64_t>(trial) + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::vector<TrialStats> monte_carlo(const MonteCarloOptions& o, const std::vector<std::string>& algorithms, uint64_t seed) {
  o.validate();
  if (algorithms.empty()) throw UsageError("--algorithms: at least one");
  for (const auto& a : algorithms) make_algorithm(a, o.ucbe_a);  // UsageError for unknown names, before any work
  const size_t A = algorithms.size();
  const int64_t T = o.trials;
  // Per trial and algorithm: error, gain, regret, spent (stored, then summed in trial order: the same
  // result for any thread count).
  std::vector<uint8_t> err(static_cast<size_t>(T) * A);
  std::vector<double> gain(static_cast<size_t>(T) * A), regret(static_cast<size_t>(T) * A);
  std::vector<int64_t> spent(static_cast<size_t>(T) * A);
  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  std::string failure;
  std::mutex failure_mutex;
  auto worker = [&] {
    std::vector<std::unique_ptr<Algorithm>> algs;
    for (const auto& a : algorithms) algs.push_back(make_algorithm(a, o.ucbe_a));
    const Channel& c = o.channel;
    try {
      for (int64_t t; (t = next.fetch_add(1)) < T;) {
        if (stop_requested() || failed) return;
        const uint64_t s = trial_seed(seed, t);
        std::mt19937_64 rng(s);
        std::uniform_real_distribution<double> U(0.0, 2 * M_PI);
        const double s1 = U(rng), s2 = U(rng);
        // The best grid arm: the best psi1 does not depend on psi2 (separable gain).
        int64_t bi = 0, bj = 0;
        for (int64_t i = 1; i < c.k1(); ++i)
          if (c.factor1(i, s1) > c.factor1(bi, s1)) bi = i;
        for (int64_t j = 1; j < c.k2(); ++j)
          if (c.factor2(j, s2) > c.factor2(bj, s2)) bj = j;
        const double gbest = c.gain(bi, bj, s1, s2);
        for (size_t a = 0; a < A; ++a) {
          Environment env(c, s1, s2, o.budget, s ^ 0x5851f42d4c957f2dULL);
          const Arm arm = algs[a]->run(env);
          const size_t at = static_cast<size_t>(t) * A + a;
          const double g = c.gain(arm.i, arm.j, s1, s2);
          err[at] = (arm.i != bi || arm.j != bj) ? 1 : 0;
          gain[at] = g;
          regret[at] = gbest - g;
          spent[at] = env.spent();
        }
      }
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(failure_mutex);
      failure = e.what();
      failed = true;
    }
  };
  std::vector<std::thread> pool;
  for (int k = 0; k < o.threads; ++k) pool.emplace_back(worker);
  for (auto& th : pool) th.join();
  if (failed) throw Error(failure);
  check_stop();
  std::vector<TrialStats> out(A);
  for (size_t a = 0; a < A; ++a) {
    TrialStats& s = out[a];
    s.algorithm = algorithms[a];
    s.trials = T;
    double g = 0, r = 0, rate = 0;
    for (int64_t t = 0; t < T; ++t) {
      const size_t at = static_cast<size_t>(t) * A + a;
      s.errors += err[at];
      g += gain[at];
      r += regret[at];
      rate += o.channel.rate(gain[at]);
      s.max_spent = std::max(s.max_spent, spent[at]);
    }
    s.p_error = static_cast<double>(s.errors) / static_cast<double>(T);
    std::tie(s.ci_low, s.ci_high) = wilson(s.errors, T);
    s.mean_gain = g / static_cast<double>(T);
    s.mean_rate = rate / static_cast<double>(T);
    s.mean_regret = r / static_cast<double>(T);
  }
  return out;
}

}  // namespace paramkit::beam
