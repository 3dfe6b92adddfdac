// Exact EMD on the complete bipartite graph with LEMON's network simplex.
#include "paramkit/ot/emd.h"

#include <fmt/format.h>
#include <lemon/network_simplex.h>
#include <lemon/smart_graph.h>

#include <cmath>

#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"

namespace paramkit::ot {

double emd_uniform(const std::vector<double>& cost, int64_t n, int64_t m) {
  if (n < 1 || m < 1) throw UsageError("optimal transport: both point sets must be non-empty");
  if (static_cast<int64_t>(cost.size()) != n * m) throw UsageError("optimal transport: the cost matrix is not n x m");
  if (n * m > int64_t{400} * 1000 * 1000) throw UsageError(fmt::format("optimal transport: {} x {} points is more than this solver holds", n, m));
  for (double c : cost)
    if (!std::isfinite(c)) throw UsageError("optimal transport: a cost is NaN or infinite");
  check_stop();
  lemon::SmartDigraph g;
  g.reserveNode(static_cast<int>(n + m));
  g.reserveArc(static_cast<int>(n * m));
  std::vector<lemon::SmartDigraph::Node> nodes;
  for (int64_t i = 0; i < n + m; ++i) nodes.push_back(g.addNode());
  lemon::SmartDigraph::ArcMap<double> c(g);
  lemon::SmartDigraph::NodeMap<int64_t> supply(g);
  for (int64_t i = 0; i < n; ++i) supply[nodes[static_cast<size_t>(i)]] = m;
  for (int64_t j = 0; j < m; ++j) supply[nodes[static_cast<size_t>(n + j)]] = -n;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) c[g.addArc(nodes[static_cast<size_t>(i)], nodes[static_cast<size_t>(n + j)])] = cost[static_cast<size_t>(i * m + j)];
  lemon::NetworkSimplex<lemon::SmartDigraph, int64_t, double> ns(g);
  ns.costMap(c).supplyMap(supply);
  if (ns.run() != lemon::NetworkSimplex<lemon::SmartDigraph, int64_t, double>::OPTIMAL)
    throw Error("optimal transport: the network simplex found no optimal plan");
  check_stop();
  return ns.totalCost() / (static_cast<double>(n) * static_cast<double>(m));
}

double w2(const double* x, int64_t n, const double* y, int64_t m, int64_t d) {
  if (d < 1) throw UsageError("W2: points need at least one coordinate");
  std::vector<double> cost(static_cast<size_t>(n * m));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) {
      double s = 0;
      for (int64_t k = 0; k < d; ++k) {
        const double diff = x[i * d + k] - y[j * d + k];
        s += diff * diff;
      }
      cost[static_cast<size_t>(i * m + j)] = s;
    }
  return std::sqrt(std::max(0.0, emd_uniform(cost, n, m)));
}

}  // namespace paramkit::ot
