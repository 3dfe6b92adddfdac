// Datasets: IDX loading, HDF5 X/y, seeded splits and resumable batch order.
#include <doctest/doctest.h>

#include <torch/torch.h>

#include <cmath>
#include <set>

#include "helpers.h"
#include "paramkit/core/error.h"
#include "paramkit/data/dataset.h"
#include "paramkit/data/tasks.h"
#include "paramkit/torch/state_dict.h"

using namespace paramkit;

TEST_CASE("IDX dataset from the MNIST fixture") {
  Dataset d = load_idx_dataset(paramkit::test::data_file("mnist-256-images-idx3-ubyte.gz"),
                               paramkit::test::data_file("mnist-256-labels-idx1-ubyte.gz"));
  CHECK(d.size() == 256);
  CHECK(d.x.sizes() == torch::IntArrayRef({256, 28, 28}));
  CHECK(d.x.max().item<float>() <= 1.0f);
  CHECK(d.x[0].sum().item<double>() == doctest::Approx(27525.0 / 255.0).epsilon(1e-6));
  CHECK(d.y[0].item<int64_t>() == 5);
  CHECK_THROWS_AS(load_idx_dataset(paramkit::test::data_file("mnist-256-labels-idx1-ubyte.gz"),
                                   paramkit::test::data_file("mnist-256-labels-idx1-ubyte.gz")),
                  InputError);
}

TEST_CASE("seeded splits are disjoint, complete and reproducible") {
  auto a = split_indices(100, {0.7, 0.2, 0.1}, 3);
  auto b = split_indices(100, {0.7, 0.2, 0.1}, 3);
  auto c = split_indices(100, {0.7, 0.2, 0.1}, 4);
  CHECK(a == b);
  CHECK(a != c);
  CHECK(a[0].size() == 70);
  CHECK(a[1].size() == 20);
  CHECK(a[2].size() == 10);
  std::set<int64_t> all;
  for (auto& p : a) all.insert(p.begin(), p.end());
  CHECK(all.size() == 100);
  CHECK_THROWS_AS(split_indices(10, {0.8, 0.5}, 0), UsageError);
}

TEST_CASE("batch iterator: each row once per epoch, order from (seed, epoch)") {
  BatchIterator it(23, 5, true, 9);
  CHECK(it.batches_per_epoch() == 5);
  std::set<int64_t> seen;
  for (int64_t b = 0; b < 5; ++b)
    for (int64_t i : it.batch(0, b)) CHECK(seen.insert(i).second);
  CHECK(seen.size() == 23);
  BatchIterator again(23, 5, true, 9);
  CHECK(again.batch(1, 2) == it.batch(1, 2));  // random access: what resume relies on
  CHECK(it.batch(0, 0) != it.batch(1, 0));
  BatchIterator drop(23, 5, false, 0, true);
  CHECK(drop.batches_per_epoch() == 4);
  CHECK(drop.batch(0, 0) == std::vector<int64_t>{0, 1, 2, 3, 4});
}

#ifdef PARAMKIT_HAVE_HDF5
TEST_CASE("HDF5 dataset X/y") {
  auto dir = paramkit::test::scratch("h5data");
  torch::Tensor x = torch::randint(0, 256, {10, 4, 4}).to(torch::kUInt8);
  torch::Tensor y = torch::arange(10);
  save_tensors(dir / "d.h5", {{"X", x}, {"y", y}}, {});
  Dataset d = load_h5_dataset(dir / "d.h5");
  CHECK(torch::allclose(d.x, x.to(torch::kFloat) / 255.0));
  CHECK(torch::equal(d.y, y));
  save_tensors(dir / "bad.h5", {{"X", x}}, {});
  CHECK_THROWS_AS(load_h5_dataset(dir / "bad.h5"), InputError);
}
#endif

TEST_CASE("table dataset from CSV columns") {
  Table t = read_csv(paramkit::test::data_file("survival/veteran.csv"));
  Dataset d = table_dataset(t, {"karno", "age"}, "time");
  CHECK(d.x.sizes() == torch::IntArrayRef({137, 2}));
  CHECK(d.x[0][0].item<float>() == 60.0f);
  CHECK(d.y[0].item<double>() == 72.0);
  CHECK_THROWS_AS(table_dataset(t, {"celltype"}, "time"), InputError);
}

TEST_CASE("digit tasks: label maps and image transforms, by hand") {
  // Ten 2x2 images [[a, b], [c, d]] with labels 0-9.
  torch::Tensor x = torch::arange(40, torch::kFloat32).reshape({10, 2, 2}) / 40.0;
  Dataset d{x, torch::arange(10, torch::kInt64)};
  auto labels = [&](const std::string& task) {
    torch::Tensor y = make_digit_task(d, task).y;
    return std::vector<int64_t>(y.data_ptr<int64_t>(), y.data_ptr<int64_t>() + y.numel());
  };
  CHECK(labels("digit") == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(labels("parity") == std::vector<int64_t>{0, 1, 0, 1, 0, 1, 0, 1, 0, 1});
  CHECK(labels("mod3") == std::vector<int64_t>{0, 1, 2, 0, 1, 2, 0, 1, 2, 0});
  CHECK(labels("high") == std::vector<int64_t>{0, 0, 0, 0, 0, 1, 1, 1, 1, 1});
  CHECK(labels("rot90") == labels("digit"));
  CHECK(digit_task_classes("digit") == 10);
  CHECK(digit_task_classes("parity") == 2);
  CHECK(digit_task_classes("mod3") == 3);
  CHECK(digit_task_classes("high") == 2);
  // Image 1 is [[4, 5], [6, 7]] / 40. Turned 90 degrees counter-clockwise: [[5, 7], [4, 6]];
  // mirrored left to right: [[5, 4], [7, 6]]; inverted: 1 - x.
  auto img = [&](const std::string& task) { return make_digit_task(d, task).x[1] * 40.0; };
  CHECK(torch::allclose(img("rot90"), torch::tensor({{5.0f, 7.0f}, {4.0f, 6.0f}})));
  CHECK(torch::allclose(img("flip"), torch::tensor({{5.0f, 4.0f}, {7.0f, 6.0f}})));
  CHECK(torch::allclose(make_digit_task(d, "invert").x[1], 1.0 - d.x[1]));
  CHECK(torch::equal(make_digit_task(d, "parity").x, d.x));
  CHECK_THROWS_WITH_AS(make_digit_task(d, "colour"), doctest::Contains("known: digit, parity"), UsageError);
  CHECK_THROWS_AS(make_digit_task(Dataset{x, torch::arange(10, torch::kInt64) + 1}, "parity"), InputError);
  CHECK_THROWS_AS(make_digit_task(Dataset{torch::zeros({10, 4}), d.y}, "rot90"), InputError);
}

TEST_CASE("shuffle_labels: a seeded fraction of the rows trade labels, the label counts stay, the rest is untouched") {
  using namespace paramkit;
  Dataset d{torch::zeros({1000, 2}), torch::arange(1000, torch::kInt64) % 10};
  CHECK(torch::equal(shuffle_labels(d, 0, 1).y, d.y));
  const Dataset half = shuffle_labels(d, 0.5, 1);
  CHECK(torch::equal(std::get<0>(torch::sort(half.y)), std::get<0>(torch::sort(d.y))));  // same multiset
  const int64_t changed = (half.y != d.y).sum().item<int64_t>();
  CHECK(changed <= 500);
  CHECK(changed > 400);  // 500 rows permuted among themselves: about 9 in 10 get another label
  CHECK(torch::equal(shuffle_labels(d, 0.5, 1).y, half.y));
  CHECK_FALSE(torch::equal(shuffle_labels(d, 0.5, 2).y, half.y));
  CHECK((shuffle_labels(d, 1, 1).y != d.y).sum().item<int64_t>() > 850);
  CHECK_THROWS_AS(shuffle_labels(d, 1.5, 1), UsageError);
  CHECK_THROWS_AS(shuffle_labels(d, std::nan(""), 1), UsageError);
}
