// Split, Permuted and Rotated scenarios; D_HT / D_E parts.
#include "paramkit/cl/scenario.h"

#include <fmt/format.h>

#include <cmath>

#include "paramkit/core/error.h"
#include "paramkit/core/rng.h"

namespace paramkit::cl {

void ScenarioSpec::validate() const {
  auto bad = [](const std::string& f, const std::string& why) { throw UsageError(fmt::format("scenario {}: {}", f, why)); };
  if (kind != "split" && kind != "permuted" && kind != "rotated") bad("kind", "'" + kind + "': expected split, permuted or rotated");
  if (kind == "split" && setting != "class" && setting != "task") bad("setting", "split scenarios are class- or task-incremental");
  if (kind != "split" && setting != "domain") bad("setting", kind + " scenarios are domain-incremental (setting domain)");
  if (tasks < 1 || tasks > 1000) bad("tasks", fmt::format("{} is outside [1, 1000]", tasks));
  if (kind == "split" && classes_per_task < 1) bad("classes per task", "must be positive");
  if (part != "all" && part != "ht" && part != "e") bad("part", "'" + part + "': expected all, ht or e");
  if (disjoint != "halves" && disjoint != "classes") bad("disjoint", "'" + disjoint + "': expected halves or classes");
  if (disjoint == "classes" && kind != "split") bad("disjoint", "disjoint class sets need a split scenario");
  if (train_per_task < 0) bad("train per task", "must be >= 0");
  if (!std::isfinite(rotation_step) || std::abs(rotation_step) > 360) bad("rotation step", "must be in [-360, 360] degrees");
}

nlohmann::json to_json(const ScenarioSpec& s) {
  return {{"kind", s.kind}, {"setting", s.setting}, {"tasks", s.tasks}, {"classes_per_task", s.classes_per_task}, {"part", s.part},
          {"disjoint", s.disjoint}, {"order_seed", s.order_seed}, {"split_seed", s.split_seed}, {"train_per_task", s.train_per_task},
          {"rotation_step", s.rotation_step}};
}

namespace {
// Rows of a fixed seeded half: part ht the even positions of the permutation, e the odd ones.
torch::Tensor half_rows(int64_t n, uint64_t seed, const std::string& part, uint64_t stream) {
  if (part == "all") return torch::arange(n);
  Rng rng(seed, stream);
  const std::vector<int64_t> perm = permutation(n, rng);
  std::vector<int64_t> rows;
  for (int64_t i = part == "ht" ? 0 : 1; i < n; i += 2) rows.push_back(perm[static_cast<size_t>(i)]);
  std::sort(rows.begin(), rows.end());
  return torch::tensor(rows, torch::kInt64);
}
Dataset take(const Dataset& d, const torch::Tensor& rows) { return {d.x.index_select(0, rows), d.y.index_select(0, rows)}; }
torch::Tensor rotate(const torch::Tensor& x, double degrees) {
  if (degrees == 0) return x;
  const double a = degrees * M_PI / 180.0;
  const torch::Tensor theta = torch::tensor({std::cos(a), -std::sin(a), 0.0, std::sin(a), std::cos(a), 0.0}, torch::kFloat32).view({1, 2, 3});
  const torch::Tensor in = x.unsqueeze(1);
  const torch::Tensor grid = torch::nn::functional::affine_grid(theta.expand({x.size(0), 2, 3}), in.sizes().vec(), false);
  return torch::nn::functional::grid_sample(in, grid, torch::nn::functional::GridSampleFuncOptions().align_corners(false)).squeeze(1);
}
}  // namespace

Scenario build_scenario(const ScenarioSpec& spec, const Dataset& train_all, const Dataset& test_all) {
  spec.validate();
  Scenario s;
  s.spec = spec;
  const int64_t classes = std::max(train_all.y.max().item<int64_t>(), test_all.y.max().item<int64_t>()) + 1;
  const bool by_class = spec.disjoint == "classes" && spec.part != "all";
  const std::string row_part = by_class ? "all" : spec.part;
  Dataset train = take(train_all, half_rows(train_all.size(), spec.split_seed, row_part, 1));
  Dataset test = take(test_all, half_rows(test_all.size(), spec.split_seed, row_part, 2));
  Rng order_rng(spec.order_seed, 3);
  if (spec.kind == "split") {
    // The class order; with disjoint class sets D_HT takes the first half of a fixed seeded order, D_E
    // the second, and each is then ordered by the run's order seed.
    std::vector<int64_t> pool(static_cast<size_t>(classes));
    for (int64_t c = 0; c < classes; ++c) pool[static_cast<size_t>(c)] = c;
    if (by_class) {
      Rng split_rng(spec.split_seed, 4);
      const auto p = permutation(classes, split_rng);
      const int64_t half = classes / 2;
      pool.clear();
      for (int64_t i = spec.part == "ht" ? 0 : half; i < (spec.part == "ht" ? half : classes); ++i) pool.push_back(p[static_cast<size_t>(i)]);
    }
    const int64_t need = spec.tasks * spec.classes_per_task;
    if (need > static_cast<int64_t>(pool.size()))
      throw UsageError(fmt::format("scenario: {} tasks x {} classes need {} classes; this part has {}", spec.tasks, spec.classes_per_task, need, pool.size()));
    const auto perm = permutation(static_cast<int64_t>(pool.size()), order_rng);
    for (int64_t i = 0; i < need; ++i) s.class_order.push_back(pool[static_cast<size_t>(perm[static_cast<size_t>(i)])]);
    s.outputs = need;
    std::vector<int64_t> unit_of(static_cast<size_t>(classes), -1);
    for (int64_t u = 0; u < need; ++u) unit_of[static_cast<size_t>(s.class_order[static_cast<size_t>(u)])] = u;
    const torch::Tensor map = torch::tensor(unit_of, torch::kInt64);
    for (int64_t t = 0; t < spec.tasks; ++t) {
      Task task;
      for (int64_t k = 0; k < spec.classes_per_task; ++k) task.classes.push_back(t * spec.classes_per_task + k);
      auto select = [&](const Dataset& d, int64_t limit) {
        const torch::Tensor u = map.index_select(0, d.y);
        const torch::Tensor keep = (u >= t * spec.classes_per_task).logical_and(u < (t + 1) * spec.classes_per_task).nonzero().squeeze(1);
        torch::Tensor rows = keep;
        if (limit > 0 && rows.size(0) > limit) rows = rows.slice(0, 0, limit);
        return Dataset{d.x.index_select(0, rows), u.index_select(0, rows)};
      };
      task.train = select(train, spec.train_per_task);
      task.test = select(test, 0);
      s.tasks.push_back(task);
    }
    return s;
  }
  s.outputs = classes;
  std::vector<int64_t> all(static_cast<size_t>(classes));
  for (int64_t c = 0; c < classes; ++c) all[static_cast<size_t>(c)] = c;
  const int64_t H = train.x.size(1), W = train.x.size(2);
  for (int64_t t = 0; t < spec.tasks; ++t) {
    Task task;
    task.classes = all;
    // Each task its own rows of the part (disjoint slices when train_per_task is set), transformed.
    auto slice = [&](const Dataset& d, int64_t limit) {
      if (limit <= 0) return d;
      const int64_t start = std::min(d.size(), t * limit), end = std::min(d.size(), start + limit);
      if (end - start < 1) throw UsageError(fmt::format("scenario: --train-per-task {} x {} tasks needs more training rows than the {} there are", limit, spec.tasks, d.size()));
      return Dataset{d.x.slice(0, start, end), d.y.slice(0, start, end)};
    };
    Dataset tr = slice(train, spec.train_per_task), te = test;
    if (spec.kind == "permuted") {
      torch::Tensor perm = torch::arange(H * W);
      if (t > 0) perm = torch::tensor(permutation(H * W, order_rng), torch::kInt64);
      auto apply = [&](const Dataset& d) { return Dataset{d.x.reshape({d.size(), H * W}).index_select(1, perm).reshape({d.size(), H, W}), d.y}; };
      tr = apply(tr);
      te = apply(te);
    } else {
      const double deg = spec.rotation_step * static_cast<double>(t);
      tr = Dataset{rotate(tr.x, deg), tr.y};
      te = Dataset{rotate(te.x, deg), te.y};
    }
    task.train = tr;
    task.test = te;
    s.tasks.push_back(task);
  }
  return s;
}

}  // namespace paramkit::cl
