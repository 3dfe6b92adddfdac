// Frechet distance, MMD, exact W2, k-NN precision/recall, and the feature CNN.
#include "paramkit/gen/metrics.h"

#include <fmt/format.h>

#include <cmath>
#include <vector>

#include "paramkit/core/error.h"
#include "paramkit/core/signals.h"
#include "paramkit/ot/emd.h"

namespace paramkit::gen {

namespace {
torch::Tensor rows64(const torch::Tensor& t) { return t.reshape({t.size(0), -1}).to(torch::kFloat64).contiguous(); }
void check_pair(const torch::Tensor& a, const torch::Tensor& b, int64_t min_rows, const char* what) {
  if (a.dim() < 1 || b.dim() < 1 || a.size(0) < min_rows || b.size(0) < min_rows)
    throw UsageError(fmt::format("{}: need at least {} rows in each set", what, min_rows));
  if (a.numel() / a.size(0) != b.numel() / b.size(0)) throw UsageError(fmt::format("{}: the two sets differ in dimension", what));
}
// Symmetric PSD square root by eigendecomposition (negative round-off eigenvalues clamped to 0).
torch::Tensor sqrt_psd(const torch::Tensor& m) {
  auto [w, v] = torch::linalg::eigh(0.5 * (m + m.t()), "L");
  return torch::matmul(v * w.clamp_min(0).sqrt().unsqueeze(0), v.t());
}
torch::Tensor sq_dists(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.square().sum(1, true) + b.square().sum(1).unsqueeze(0) - 2 * torch::matmul(a, b.t())).clamp_min(0);
}
}  // namespace

double frechet_distance(const torch::Tensor& a_in, const torch::Tensor& b_in) {
  check_pair(a_in, b_in, 2, "Frechet distance");
  const torch::Tensor a = rows64(a_in), b = rows64(b_in);
  auto cov = [](const torch::Tensor& x) {
    const torch::Tensor c = torch::cov(x.t());
    return c.dim() == 0 ? c.reshape({1, 1}) : c;
  };
  const torch::Tensor ca = cov(a), cb = cov(b), sa = sqrt_psd(ca);
  const torch::Tensor inner = torch::linalg::eigvalsh(torch::matmul(torch::matmul(sa, cb), sa), "L").clamp_min(0).sqrt().sum();
  const double d = (a.mean(0) - b.mean(0)).square().sum().item<double>() + (ca.trace() + cb.trace() - 2 * inner).item<double>();
  return std::max(0.0, d);
}

double mmd2_rbf(const torch::Tensor& a_in, const torch::Tensor& b_in, double h, double* used) {
  check_pair(a_in, b_in, 2, "MMD");
  const torch::Tensor a = rows64(a_in), b = rows64(b_in);
  const int64_t n = a.size(0), m = b.size(0);
  if (!(h > 0)) {
    const torch::Tensor all = torch::cat({a, b}), d = sq_dists(all, all).sqrt();
    const torch::Tensor off = d.masked_select(~torch::eye(n + m, torch::kBool));
    h = off.median().item<double>();
    if (!(h > 0)) h = 1;
  }
  if (used) *used = h;
  auto k = [h](const torch::Tensor& x, const torch::Tensor& y) { return torch::exp(-sq_dists(x, y) / (2 * h * h)); };
  const double kaa = (k(a, a).sum().item<double>() - static_cast<double>(n)) / static_cast<double>(n * (n - 1));
  const double kbb = (k(b, b).sum().item<double>() - static_cast<double>(m)) / static_cast<double>(m * (m - 1));
  const double kab = k(a, b).mean().item<double>();
  return kaa + kbb - 2 * kab;
}

double w2_exact(const torch::Tensor& a_in, const torch::Tensor& b_in) {
  check_pair(a_in, b_in, 1, "W2");
  const torch::Tensor a = rows64(a_in), b = rows64(b_in);
  return ot::w2(a.data_ptr<double>(), a.size(0), b.data_ptr<double>(), b.size(0), a.size(1));
}

PrecisionRecall knn_precision_recall(const torch::Tensor& samples, const torch::Tensor& reference, int64_t k) {
  check_pair(samples, reference, k + 1, "precision/recall");
  const torch::Tensor s = rows64(samples), r = rows64(reference);
  // The k-th nearest neighbour distance within a set (excluding the point itself: column k of the sorted row).
  auto radii = [k](const torch::Tensor& x) { return std::get<0>(sq_dists(x, x).topk(k + 1, 1, /*largest=*/false)).select(1, k); };
  const torch::Tensor rr = radii(r), rs = radii(s);
  const torch::Tensor d = sq_dists(s, r);  // [samples, reference]
  PrecisionRecall pr;
  pr.precision = (d <= rr.unsqueeze(0)).any(1).to(torch::kFloat64).mean().item<double>();
  pr.recall = (d <= rs.unsqueeze(1)).any(0).to(torch::kFloat64).mean().item<double>();
  return pr;
}

FeatureNetImpl::FeatureNetImpl(int64_t channels, int64_t height, int64_t width, int64_t classes) {
  if (channels < 1 || height < 4 || width < 4 || height % 4 || width % 4 || classes < 2)
    throw UsageError(fmt::format("feature classifier: images {}x{}x{} need sides divisible by 4 and at least 2 classes", channels, height, width));
  c1_ = register_module("c1", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, 32, 3).padding(1)));
  c2_ = register_module("c2", torch::nn::Conv2d(torch::nn::Conv2dOptions(32, 64, 3).padding(1)));
  fc_ = register_module("fc", torch::nn::Linear(64 * (height / 4) * (width / 4), 128));
  out_ = register_module("out", torch::nn::Linear(128, classes));
}

torch::Tensor FeatureNetImpl::features(const torch::Tensor& x) {
  torch::Tensor h = torch::max_pool2d(torch::relu(c1_->forward(x)), 2);
  h = torch::max_pool2d(torch::relu(c2_->forward(h)), 2);
  return torch::relu(fc_->forward(h.flatten(1)));
}

torch::Tensor FeatureNetImpl::classify(const torch::Tensor& features) { return out_->forward(features); }

torch::Tensor FeatureNetImpl::forward(const torch::Tensor& x) { return classify(features(x)); }

}  // namespace paramkit::gen
