// pfgm-sample's measures and files (gen/metrics.h, gen/model.h, gen/toy.h, io/png.h) against
// independent references: closed forms of the Frechet distance, sorted 1-D matching for W2, a hand-computed MMD, PNG bytes decoded by zlib, and model files that round-trip.
#include <doctest/doctest.h>
#include <torch/torch.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "paramkit/core/error.h"
#include "paramkit/gen/metrics.h"
#include "paramkit/gen/model.h"
#include "paramkit/gen/toy.h"
#include "paramkit/io/png.h"

using namespace paramkit;
using namespace paramkit::gen;

TEST_CASE("Frechet distance: 1-D closed form, a shift adds its squared length, a scaled copy gives (1 - s)^2 (tr C + |mu|^2)") {
  torch::manual_seed(1);
  const torch::Tensor a = torch::randn({400, 1}, torch::kFloat64) * 2 + 1, b = torch::randn({300, 1}, torch::kFloat64) * 0.5 - 2;
  const double ma = a.mean().item<double>(), mb = b.mean().item<double>(), sa = a.std().item<double>(), sb = b.std().item<double>();
  CHECK(frechet_distance(a, b) == doctest::Approx((ma - mb) * (ma - mb) + (sa - sb) * (sa - sb)).epsilon(1e-9));
  const torch::Tensor x = torch::randn({500, 6}, torch::kFloat64).matmul(torch::randn({6, 6}, torch::kFloat64));
  CHECK(frechet_distance(x, x) == doctest::Approx(0).epsilon(1e-9).scale(1));
  const torch::Tensor c = torch::tensor({1.0, -2.0, 0.5, 0.0, 3.0, 1.0}, torch::kFloat64);
  CHECK(frechet_distance(x, x + c) == doctest::Approx(c.square().sum().item<double>()).epsilon(1e-7));
  const double s = 1.7, trc = torch::cov(x.t()).trace().item<double>(), mu2 = x.mean(0).square().sum().item<double>();
  CHECK(frechet_distance(x, s * x) == doctest::Approx((1 - s) * (1 - s) * (trc + mu2)).epsilon(1e-7));
  CHECK_THROWS_AS(frechet_distance(x, torch::randn({10, 5})), UsageError);
}

TEST_CASE("gen::w2_exact of 1-D sets is the sorted matching, and zero for a permuted copy") {
  torch::manual_seed(2);
  const torch::Tensor a = torch::randn({200, 1}, torch::kFloat64), b = torch::randn({200, 1}, torch::kFloat64) * 2 + 0.5;
  const torch::Tensor sa = std::get<0>(a.flatten().sort()), sb = std::get<0>(b.flatten().sort());
  CHECK(w2_exact(a, b) == doctest::Approx(std::sqrt((sa - sb).square().mean().item<double>())).epsilon(1e-10));
  CHECK(w2_exact(a, a.flip(0)) == doctest::Approx(0).scale(1));
}

TEST_CASE("MMD^2: a hand-computed two-point case, near zero for one distribution, large for a shifted one") {
  const torch::Tensor a = torch::tensor({0.0, 1.0}, torch::kFloat64).view({2, 1}), b = torch::tensor({3.0, 5.0}, torch::kFloat64).view({2, 1});
  auto k = [](double d) { return std::exp(-d * d / 2); };  // h = 1
  const double expect = k(1) + k(2) - 2 * (k(3) + k(5) + k(2) + k(4)) / 4;
  CHECK(mmd2_rbf(a, b, 1.0) == doctest::Approx(expect).epsilon(1e-12));
  torch::manual_seed(3);
  const torch::Tensor x = torch::randn({500, 3}, torch::kFloat64), y = torch::randn({500, 3}, torch::kFloat64);
  double h = 0;
  CHECK(std::abs(mmd2_rbf(x, y, 0, &h)) < 5e-3);
  CHECK(h > 1.5);
  CHECK(h < 3.5);
  CHECK(mmd2_rbf(x, y + 1.5, h) > 0.1);
}

TEST_CASE("k-NN precision and recall: one for the reference itself, zero for far-away samples, half for half the modes") {
  torch::manual_seed(4);
  const torch::Tensor r = torch::randn({300, 2}, torch::kFloat64);
  auto pr = knn_precision_recall(r, r, 3);
  CHECK(pr.precision == 1.0);
  CHECK(pr.recall == 1.0);
  pr = knn_precision_recall(r + 100, r, 3);
  CHECK(pr.precision == 0.0);
  CHECK(pr.recall == 0.0);
  // Two well-separated modes in the reference, samples from one of them: precision near 1, recall near 1/2.
  const torch::Tensor two = torch::cat({torch::randn({300, 2}, torch::kFloat64) * 0.1 - 5, torch::randn({300, 2}, torch::kFloat64) * 0.1 + 5});
  pr = knn_precision_recall(torch::randn({300, 2}, torch::kFloat64) * 0.1 + 5, two, 3);
  CHECK(pr.precision > 0.9);
  CHECK(pr.recall > 0.4);
  CHECK(pr.recall <= 0.5);
}

TEST_CASE("PNG: signature, IHDR, CRCs and the zlib stream decode to the pixels, and tiling places each image") {
  Image8 im;
  im.width = 3;
  im.height = 2;
  im.channels = 1;
  im.pixels = {0, 50, 100, 150, 200, 250};
  const std::string png = encode_png(im);
  REQUIRE(png.size() > 33);
  CHECK(png.substr(0, 8) == std::string("\x89PNG\r\n\x1a\n", 8));
  auto be32 = [&](size_t at) {
    return (static_cast<uint32_t>(static_cast<uint8_t>(png[at])) << 24) | (static_cast<uint32_t>(static_cast<uint8_t>(png[at + 1])) << 16) |
           (static_cast<uint32_t>(static_cast<uint8_t>(png[at + 2])) << 8) | static_cast<uint32_t>(static_cast<uint8_t>(png[at + 3]));
  };
  size_t at = 8;
  std::string idat;
  std::vector<std::string> types;
  while (at < png.size()) {
    const uint32_t len = be32(at);
    const std::string type = png.substr(at + 4, 4), data = png.substr(at + 8, len);
    types.push_back(type);
    const uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(png.data() + at + 4), len + 4);
    CHECK(be32(at + 8 + len) == static_cast<uint32_t>(crc));
    if (type == "IHDR") {
      CHECK(be32(at + 8) == 3);
      CHECK(be32(at + 12) == 2);
      CHECK(data[8] == 8);
      CHECK(data[9] == 0);
    }
    if (type == "IDAT") idat += data;
    at += 12 + len;
  }
  CHECK(types == std::vector<std::string>{"IHDR", "IDAT", "IEND"});
  std::string raw(2 * 4, '\0');
  uLongf size = raw.size();
  REQUIRE(uncompress(reinterpret_cast<Bytef*>(raw.data()), &size, reinterpret_cast<const Bytef*>(idat.data()), idat.size()) == Z_OK);
  CHECK(raw == std::string("\0\x00\x32\x64\0\x96\xc8\xfa", 8));
  // Two 1x2x2 images, two columns, pad 1: image 1's pixel (0, 0) sits at (x 4, y 1).
  const Image8 g = tile_images({1, 2, 3, 4, 5, 6, 7, 8}, 2, 1, 2, 2, 2, 1, 0);
  CHECK(g.width == 7);
  CHECK(g.height == 4);
  CHECK(g.pixels[1 * 7 + 1] == 1);
  CHECK(g.pixels[2 * 7 + 2] == 4);
  CHECK(g.pixels[1 * 7 + 4] == 5);
  CHECK(g.pixels[0] == 0);
  CHECK_THROWS(encode_png(Image8{}));
}

TEST_CASE("denoiser files round-trip (same outputs), data scaling inverts, quantisation leaves at most 2^b - 1 levels per tensor") {
  const auto dir = std::filesystem::temp_directory_path() / "paramkit-test-gen-model";
  std::filesystem::create_directories(dir);
  DenoiserSpec s;
  s.kind = "mlp";
  s.shape = {3};
  s.hidden = {16, 16};
  s.embedding = 8;
  s.D = 128;
  torch::manual_seed(5);
  const torch::Tensor pts = torch::randn({50, 3}) * torch::tensor({1.0f, 10.0f, 0.1f}) + 4;
  fit_point_scaling(s, pts);
  const torch::Tensor z = to_model_space(s, pts);
  CHECK(torch::allclose(z.std(0), torch::full({3}, 0.5), 1e-4, 1e-4));
  CHECK(torch::allclose(from_model_space(s, z), pts, 1e-4, 1e-4));
  DenoiserModel m = build_denoiser(s);
  for (auto& p : m.net->parameters()) p.data().normal_(0, 0.3);  // the output layer starts at zero
  save_denoiser(m, dir / "m.safetensors", {});
  DenoiserModel back = load_denoiser(dir / "m.safetensors");
  CHECK(back.spec.D == 128);
  CHECK(back.spec.scale == s.scale);
  const torch::Tensor x = torch::randn({4, 3}), c = torch::randn({4});
  CHECK(torch::equal(m.f(x, c), back.f(x, c)));
  s.D = kInfiniteD;
  CHECK(std::isinf(denoiser_spec_from_json(to_json(s), "x").D));
  CHECK(parse_D("inf", "--D") == kInfiniteD);
  CHECK(parse_D("2048", "--D") == 2048);
  CHECK_THROWS_AS(parse_D("-1", "--D"), UsageError);
  CHECK_THROWS_AS(parse_D("nan", "--D"), UsageError);
  CHECK_THROWS_AS(parse_D("12abc", "--D"), UsageError);
  CHECK_THROWS_AS(load_denoiser(std::filesystem::path(PARAMKIT_TEST_DATA) / "pfgm" / "missing.safetensors"), Error);
  quantize_weights(*back.net, 3);
  for (const auto& p : back.net->parameters()) CHECK(std::get<0>(at::_unique(p.flatten())).numel() <= 7);
  const torch::Tensor before = m.net->parameters()[0].clone();
  add_weight_noise(*m.net, 0.1, 9);
  const torch::Tensor rel = ((m.net->parameters()[0] - before) / before.abs()).flatten();
  CHECK(rel.std().item<double>() == doctest::Approx(0.1).epsilon(0.15));
  CHECK_THROWS_AS(quantize_weights(*m.net, 1), UsageError);
  std::filesystem::remove_all(dir);
}

TEST_CASE("toy mixtures: 2-D centres on the circle at equal angles, points around them with the given spread, draws share centres") {
  ToyMixture m;
  m.dims = 2;
  m.modes = 8;
  m.radius = 2;
  m.sd = 0.1;
  const torch::Tensor c = toy_centres(m, 0);
  CHECK(torch::allclose(c.norm(2, 1), torch::full({8}, 2.0, torch::kFloat64)));
  CHECK(c[2][0].item<double>() == doctest::Approx(0).scale(1));
  CHECK(c[2][1].item<double>() == doctest::Approx(2));
  auto [x, mode] = toy_points(m, 4000, 0, 0);
  const torch::Tensor resid = x - c.index_select(0, mode);
  CHECK(resid.std().item<double>() == doctest::Approx(0.1).epsilon(0.05));
  m.dims = 8;
  const torch::Tensor c8 = toy_centres(m, 3);
  auto [y, mode8] = toy_points(m, 100, 3, 1);
  CHECK(torch::allclose(c8.norm(2, 1), torch::full({8}, 2.0, torch::kFloat64)));
  CHECK(((y - c8.index_select(0, mode8)).norm(2, 1) < 1.5).all().item<bool>());
  CHECK(!torch::equal(toy_points(m, 10, 3, 0).first, toy_points(m, 10, 3, 1).first));
  m.sd = 0;
  CHECK_THROWS_AS(m.validate(), UsageError);
}
