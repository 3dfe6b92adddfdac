// unimodal_search (bandit.h): sequential halving that keeps the arc around the empirical best.
#pragma once
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace paramkit::beam {

namespace detail {
// Spends up to `b` pilots evenly over `arms` (pull(arm, t): the t-th pull of that arm in
// this group, so that callers can give every arm the same sequence of the other parameter); returns
// the empirical means (-inf for an arm never pulled). `spent` counts the pilots.
template <class Pull>
std::vector<double> even_means(const std::vector<int64_t>& arms, int64_t b, int64_t& spent, Pull& pull) {
  std::vector<double> sum(arms.size(), 0.0);
  std::vector<int64_t> cnt(arms.size(), 0);
  // The same number of pulls for every arm (the remainder of b stays unspent): callers that vary the other
  // parameter with t then give every arm the same sequence of it. With b < |arms|, one pull each while
  // the budget lasts.
  const int64_t each = arms.empty() ? 0 : b / static_cast<int64_t>(arms.size());
  for (size_t a = 0; a < arms.size(); ++a) {
    const int64_t m = each > 0 ? each : (static_cast<int64_t>(a) < b ? 1 : 0);
    for (int64_t t = 0; t < m; ++t) {
      sum[a] += pull(arms[a], t);
      ++cnt[a];
      ++spent;
    }
  }
  std::vector<double> mean(arms.size());
  for (size_t a = 0; a < arms.size(); ++a) mean[a] = cnt[a] ? sum[a] / static_cast<double>(cnt[a]) : -std::numeric_limits<double>::infinity();
  return mean;
}
}  // namespace detail

template <class Pull>
int64_t unimodal_search(int64_t n, int64_t budget, Pull&& pull) {
  if (n <= 1 || budget <= 0) return 0;
  int64_t spent = 0;
  int64_t rounds = 0;
  for (int64_t l = n; l > 1; ++rounds) l = (l + 1) / 2;
  int64_t centre = 0, L = n;  // the arc: L arms centred on `centre` (mod n); the whole circle first
  for (int64_t r = 0; r < rounds; ++r) {
    const int64_t left = budget - spent, share = r + 1 == rounds ? left : left / (rounds - r);
    std::vector<int64_t> arms;
    for (int64_t t = 0; t < L; ++t) arms.push_back(((centre - (L - 1) / 2 + t) % n + n) % n);
    const std::vector<double> m = detail::even_means(arms, share, spent, pull);
    centre = arms[static_cast<size_t>(std::max_element(m.begin(), m.end()) - m.begin())];
    L = (L + 1) / 2;  // with a unimodal mean the peak is next to the best arm: keep the half-arc around it
  }
  return centre;
}

}  // namespace paramkit::beam
