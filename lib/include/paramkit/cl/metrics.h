// Continual-learning metrics over an accuracy matrix a[t][j]: the accuracy on task j's test data after
// training on tasks 0..t (j <= t). No LibTorch.
#pragma once
#include <nlohmann/json.hpp>
#include <vector>

namespace paramkit::cl {

using AccuracyMatrix = std::vector<std::vector<double>>;  // row t has t + 1 entries

// Mean of the last row.
double final_accuracy(const AccuracyMatrix& a);
// Mean over steps t of the mean of row t.
double average_incremental_accuracy(const AccuracyMatrix& a);
// Mean over j < T of (max over t in [j, T) of a[t][j]) - a[T][j], T the last step; 0 with one task.
double forgetting(const AccuracyMatrix& a);
// Mean over j < T of a[T][j] - a[j][j]; 0 with one task.
double backward_transfer(const AccuracyMatrix& a);
// UsageError unless row t has t + 1 finite entries in [0, 1].
void validate(const AccuracyMatrix& a);
nlohmann::json metrics_json(const AccuracyMatrix& a);  // {"final", "average_incremental", "forgetting", "bwt"}

}  // namespace paramkit::cl
