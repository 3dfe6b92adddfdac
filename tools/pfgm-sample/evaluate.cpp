// pfgm-sample evaluate: sample quality against held-out data. Images: the Frechet distance in the
// feature space of the classifier trained here (`classifier`; FID's formula, not Inception's features),
// the classifier's view of the samples (class histogram, confidence, an Inception-Score analogue) and
// its accuracy on labelled reference images. Points: unbiased MMD^2 (Gaussian kernel), exact W2, and
// k-NN precision/recall. Both also give the same measure between two disjoint random parts of the
// reference: the floor that sampling noise alone reaches.
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/rng.h"
#include "paramkit/core/signals.h"
#include "paramkit/gen/examples_io.h"
#include "paramkit/gen/metrics.h"
#include "paramkit/io/json.h"
#include "paramkit/io/tensor_store.h"
#include "paramkit/torch/device.h"
#include "paramkit/torch/state_dict.h"

using namespace paramkit;

namespace {
torch::Tensor seeded_perm(int64_t n, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randperm(n, gen, torch::kInt64);
}
// A seeded subset of at most k rows.
torch::Tensor subsample(const torch::Tensor& x, int64_t k, uint64_t seed) {
  if (x.size(0) <= k) return x;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return x.index_select(0, at::randperm(x.size(0), gen, torch::kInt64).narrow(0, 0, k));
}

struct EvaluateCommand : cli::Command {
  EvaluateCommand()
      : Command("evaluate", "Sample quality against held-out data: Frechet distance in a classifier's features (images), MMD and W2 (points)",
                "pfgm-sample evaluate tests/data/pfgm/ring-samples.csv --reference tests/data/pfgm/ring-test.csv -o /tmp/ring-eval.json") {}
  void add_options(CLI::App& app) override {
    app.add_option("samples", samples_path, "Samples (pfgm-sample sample -o)")->required()->check(CLI::ExistingFile);
    app.add_option("--reference", reference_path, "Held-out data of the same kind")->required()->check(CLI::ExistingFile);
    app.add_option("--classifier", classifier_path, "Images: the feature classifier (pfgm-sample classifier -o)")->check(CLI::ExistingFile);
    app.add_option("--reference-labels", reference_labels, "Images: labels of the reference, for the classifier's accuracy")->check(CLI::ExistingFile);
    app.add_option("--max-points", max_points, "Points: at most this many rows per set in MMD, W2 (exact optimal transport) and precision/recall")
        ->capture_default_str()
        ->check(CLI::Range(int64_t{10}, int64_t{20000}));
    app.add_option("--bandwidth", bandwidth, "Points: MMD kernel bandwidth (0: the median pairwise distance of the reference)")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 1e12));
    app.add_option("--k", k, "Points: neighbours of the precision/recall radii")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{100}));
    app.add_option("--batch-size", batch, "Images per classifier batch")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
    cli::add_output(app, out, "Report (JSON)");
  }

  nlohmann::json execute(cli::Context& ctx) override {
    const gen::Examples s = gen::load_examples(samples_path), ref = gen::load_examples(reference_path);
    if (s.kind != ref.kind) throw InputError(reference_path, ref.kind, fmt::format("the samples are {}, the reference is {}", s.kind, ref.kind));
    if (s.x.sizes().slice(1) != ref.x.sizes().slice(1))
      throw InputError(reference_path, ref.kind, fmt::format("shape {} differs from the samples' {}", fmt::join(ref.x.sizes().slice(1), "x"), fmt::join(s.x.sizes().slice(1), "x")));
    const torch::Tensor ok = torch::isfinite(s.x).reshape({s.x.size(0), -1}).all(1);
    const torch::Tensor x = s.x.index({ok});
    nlohmann::json r = {{"samples", samples_path},  {"reference", reference_path}, {"kind", s.kind},
                        {"n_samples", s.x.size(0)}, {"nonfinite", s.x.size(0) - x.size(0)}, {"n_reference", ref.x.size(0)},
                        {"run", s.about.is_null() ? nlohmann::json::object() : s.about}};
    if (x.size(0) < 2) throw InputError(samples_path, s.kind, "fewer than 2 finite samples to evaluate");
    if (ref.x.size(0) < 4) throw InputError(reference_path, ref.kind, "need at least 4 reference examples");
    if (s.kind == "images")
      evaluate_images(ctx, x, ref.x, r);
    else
      evaluate_points(ctx, x, ref.x, r);
    check_stop();
    write_report(out, r);
    return r;
  }

  void evaluate_images(cli::Context& ctx, const torch::Tensor& x, const torch::Tensor& ref, nlohmann::json& r) {
    if (classifier_path.empty()) throw UsageError("evaluate: image samples need --classifier (pfgm-sample classifier -o)");
    const c10::Device device = parse_device(ctx.common.device);
    const auto reader = open_tensors(classifier_path);
    const auto it = reader->metadata().find("paramkit.pfgm.classifier");
    if (it == reader->metadata().end()) throw InputError(classifier_path, "paramkit.pfgm.classifier", "not a pfgm-sample classifier");
    nlohmann::json meta;
    std::vector<int64_t> shape;
    int64_t classes = 0;
    try {
      meta = nlohmann::json::parse(it->second);
      shape = meta.at("shape").get<std::vector<int64_t>>();
      classes = meta.at("classes").get<int64_t>();
    } catch (const nlohmann::json::exception&) {
      throw InputError(classifier_path, "paramkit.pfgm.classifier", "missing or malformed shape/classes");
    }
    if (shape.size() != 3 || x.sizes().slice(1).vec() != shape)
      throw InputError(classifier_path, "shape", fmt::format("the classifier takes images {}, the samples are {}", fmt::join(shape, "x"),
                                                             fmt::join(x.sizes().slice(1), "x")));
    gen::FeatureNet net(shape[0], shape[1], shape[2], classes);
    load_state_dict(*net, *reader, /*strict=*/true);
    net->to(device);
    net->eval();
    torch::NoGradGuard g;
    auto run = [&](const torch::Tensor& imgs, torch::Tensor& feats, torch::Tensor& probs) {
      std::vector<torch::Tensor> f, p;
      for (int64_t i = 0; i < imgs.size(0); i += batch) {
        check_stop();
        const torch::Tensor h = net->features(imgs.narrow(0, i, std::min(batch, imgs.size(0) - i)).to(device));
        f.push_back(h.to(torch::kCPU));
        p.push_back(torch::softmax(net->classify(h), 1).to(torch::kCPU));
      }
      feats = torch::cat(f);
      probs = torch::cat(p);
    };
    torch::Tensor fs, ps, fr, pr;
    {
      auto timer = ctx.timers.scope("features");
      run(x, fs, ps);
      run(ref, fr, pr);
    }
    r["feature_space"] = fmt::format("the 128-unit feature layer of {} (pfgm-sample classifier; not Inception-v3)", classifier_path);
    r["fd"] = json_number(gen::frechet_distance(fs, fr));
    // The floor: as many reference images as samples (a seeded random subset) against the rest.
    const torch::Tensor perm = seeded_perm(fr.size(0), ctx.common.seed + 5);
    const int64_t k_sub = std::min(fs.size(0), fr.size(0) / 2);
    r["fd_reference_floor"] =
        json_number(gen::frechet_distance(fr.index_select(0, perm.narrow(0, 0, k_sub)), fr.index_select(0, perm.narrow(0, k_sub, fr.size(0) - k_sub))));
    const torch::Tensor conf = std::get<0>(ps.max(1));
    const torch::Tensor hist = torch::bincount(ps.argmax(1), {}, classes).to(torch::kFloat64) / static_cast<double>(ps.size(0));
    const torch::Tensor marginal = ps.to(torch::kFloat64).mean(0);
    const torch::Tensor kl = (ps.to(torch::kFloat64) * ((ps.to(torch::kFloat64) + 1e-12).log() - (marginal + 1e-12).log())).sum(1);
    r["mean_confidence"] = conf.mean().item<double>();
    r["confident_fraction"] = (conf >= 0.9).to(torch::kFloat64).mean().item<double>();
    r["class_score"] = std::exp(kl.mean().item<double>());  // Inception Score's formula in this classifier
    r["class_histogram"] = std::vector<double>(hist.data_ptr<double>(), hist.data_ptr<double>() + hist.numel());
    r["classifier_test_accuracy"] = meta.value("test_accuracy", NAN);
    if (!reference_labels.empty()) {
      const torch::Tensor y = gen::load_labels(reference_labels);
      if (y.size(0) != ref.size(0)) throw InputError(reference_labels, "labels", fmt::format("{} labels for {} reference images", y.size(0), ref.size(0)));
      r["classifier_reference_accuracy"] = (pr.argmax(1) == y).to(torch::kFloat64).mean().item<double>();
    }
  }

  // Every measure compares m = min(samples, reference / 2, --max-points) samples with m reference points
  // (a seeded random half), and the floor compares those with m points of the other half: equal sizes,
  // so comparable.
  void evaluate_points(cli::Context& ctx, const torch::Tensor& x_all, const torch::Tensor& ref_all, nlohmann::json& r) {
    const uint64_t seed = ctx.common.seed;
    const int64_t half = ref_all.size(0) / 2, m = std::min({x_all.size(0), half, max_points});
    const torch::Tensor x = subsample(x_all, m, seed + 1);
    const torch::Tensor perm = seeded_perm(ref_all.size(0), seed + 2);  // random halves: files may be ordered
    const torch::Tensor a = ref_all.index_select(0, perm.narrow(0, 0, m)), b = ref_all.index_select(0, perm.narrow(0, half, m));
    auto timer = ctx.timers.scope("metrics");
    double h = bandwidth;
    if (!(h > 0)) gen::mmd2_rbf(a, b, 0, &h);  // the reference's median distance: one kernel for every run against it
    r["points_compared"] = m;
    r["mmd_bandwidth"] = h;
    r["mmd2"] = json_number(gen::mmd2_rbf(x, a, h));
    r["mmd2_reference_halves"] = json_number(gen::mmd2_rbf(a, b, h));
    r["w2"] = json_number(gen::w2_exact(x, a));
    r["w2_reference_halves"] = json_number(gen::w2_exact(a, b));
    if (m > k) {
      const gen::PrecisionRecall pr = gen::knn_precision_recall(x, a, k), floor = gen::knn_precision_recall(b, a, k);
      r["precision"] = pr.precision;
      r["recall"] = pr.recall;
      r["precision_reference_halves"] = floor.precision;
      r["recall_reference_halves"] = floor.recall;
    }
  }
  std::string samples_path, reference_path, classifier_path, reference_labels, out;
  int64_t max_points = 1000, k = 3, batch = 500;
  double bandwidth = 0;
};
}  // namespace

void add_evaluate(cli::Tool& tool) { tool.add<EvaluateCommand>(); }
