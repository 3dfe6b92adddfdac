// Exact optimal transport between discrete measures (the earth mover's distance) with LEMON's network
// simplex (Debian liblemon-dev), and the 2-Wasserstein distance between two point sets with uniform
// weights. No LibTorch.
#pragma once
#include <cstdint>
#include <vector>

namespace paramkit::ot {

// min over couplings pi of sum_ij pi_ij cost_ij for the uniform measures on n and m points, cost
// row-major [n, m]. Exact: the supplies are scaled to integers (m per source, n per sink) so that the
// simplex works on whole numbers; the costs are doubles. Stops at SIGINT/SIGTERM before the solve
// (Interrupted). UsageError for empty sets or non-finite costs.
double emd_uniform(const std::vector<double>& cost, int64_t n, int64_t m);

// sqrt(EMD with squared Euclidean cost) between the rows of x [n, d] and y [m, d] (row-major), uniform
// weights; n and m may differ.
double w2(const double* x, int64_t n, const double* y, int64_t m, int64_t d);

}  // namespace paramkit::ot
