// intdim-probe train: one run, one d and one seed (--d 0: direct training, the baseline), with the
// paper's recipe as defaults (Adam 1e-3, L2 1e-5 on the full theta, batch 128).
#include <fmt/format.h>

#include <cmath>
#include <iostream>

#include "commands.h"
#include "paramkit/cli/nn_options.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/provenance.h"
#include "paramkit/core/signals.h"
#include "paramkit/data/dataset.h"
#include "paramkit/io/json.h"
#include "paramkit/nn/models.h"
#include "paramkit/nn/subspace.h"
#include "paramkit/nn/train.h"
#include "paramkit/torch/device.h"
#include "paramkit/torch/state_dict.h"

using namespace paramkit;

namespace {
struct TrainReport {
  std::string model, projection, theta0;
  nlohmann::json model_spec;
  int64_t D = 0, d = 0, steps = 0, train_examples = 0;
  uint64_t seed = 0;
  double test_accuracy = NAN, test_loss = NAN, last_loss = NAN, train_accuracy = NAN, shuffled_labels = 0;
  bool finished = false;
};
void to_json(nlohmann::json& j, const TrainReport& r) {
  j = {{"model", r.model}, {"projection", r.d == 0 ? nlohmann::json(nullptr) : nlohmann::json(r.projection)},
       {"model_spec", r.model_spec}, {"theta0", r.theta0}, {"D", r.D}, {"d", r.d}, {"seed", r.seed}, {"steps", r.steps}, {"train_examples", r.train_examples},
       {"finished", r.finished}, {"last_loss", std::isfinite(r.last_loss) ? nlohmann::json(r.last_loss) : nlohmann::json(nullptr)}};
  j["test_accuracy"] = std::isfinite(r.test_accuracy) ? nlohmann::json(r.test_accuracy) : nlohmann::json(nullptr);
  j["test_loss"] = std::isfinite(r.test_loss) ? nlohmann::json(r.test_loss) : nlohmann::json(nullptr);
  j["train_accuracy"] = std::isfinite(r.train_accuracy) ? nlohmann::json(r.train_accuracy) : nlohmann::json(nullptr);
  j["shuffled_labels"] = r.shuffled_labels;
}

struct TrainCommand : cli::TypedCommand<TrainReport> {
  TrainCommand()
      : TypedCommand("train", "Train in a random d-dimensional subspace (--d 0: directly) and report the test accuracy",
                     "intdim-probe train --train-images tests/data/mnist-256-images-idx3-ubyte.gz --train-labels "
                     "tests/data/mnist-256-labels-idx1-ubyte.gz --d 100 --epochs 2 -o /tmp/intdim-d100.json") {
    train.batch_size = 128;
    train.optimizer.name = "adam";
    train.optimizer.lr = 1e-3;
    train.log_every = 0;
  }
  void add_options(CLI::App& app) override {
    cli::add_image_data(app, data);
    app.add_option("--model", model_name, "fc (784-200-200-10, the paper's MNIST FC), lenet (the paper's LeNet: unpadded, D = 44,426 on MNIST), lenet5 (padded to 32x32) or mlp (--hidden)")
        ->capture_default_str()
        ->check(CLI::IsMember({"fc", "mlp", "lenet", "lenet5"}));
    app.add_option("--hidden", hidden, "mlp: hidden widths")->delimiter(',');
    app.add_option("--d", d, "Subspace dimension (0: direct training of all parameters, the baseline)")
        ->required()
        ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
    app.add_option("--projection", projection, "fastfood, sparse or dense")->capture_default_str()->check(CLI::IsMember({"fastfood", "sparse", "dense"}));
    app.add_option("--memory-budget", memory_budget_gb, "GB a dense P may take")->capture_default_str()->check(CLI::Range(1e-6, 1e6));
    app.add_option("--l2", l2, "L2 coefficient on the full theta (gradient l2 * theta)")->capture_default_str()->check(CLI::Range(0.0, 10.0));
    app.add_option("--shuffle-labels", shuffle, "Fraction of the training labels permuted among their rows (memorisation; seeded)")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 1.0));
    app.add_option("--save-weights", save_weights, "Also write the trained weights theta (dense safetensors)");
    cli::add_training(app, train);
    cli::add_output(app, out, "Report (JSON): accuracy, the model's spec and theta0 fingerprint (what export needs)");
  }
  TrainReport run(cli::Context& ctx) override {
    train.validate();
    if (!save_weights.empty() && std::filesystem::path(save_weights) == std::filesystem::path(out))
      throw UsageError("--save-weights and --output must differ");
    if (!hidden.empty() && model_name != "mlp") throw UsageError("--hidden is for --model mlp");
    const c10::Device device = parse_device(ctx.common.device);
    cli::TrainTest tt = cli::load_image_data(data, ctx.common.seed);
    Dataset& tr = tt.train;
    const Dataset& te = tt.test;
    if (shuffle > 0) tr = shuffle_labels(tr, shuffle, ctx.common.seed);
    nn::ModelSpec spec;
    spec.in_shape.assign(tr.x.sizes().begin() + 1, tr.x.sizes().end());
    spec.name = model_name == "fc" ? "mlp" : model_name;
    if (model_name == "fc") spec.hidden = {200, 200};
    if (model_name == "mlp") spec.hidden = hidden;
    std::function<torch::Tensor(torch::Tensor)> forward;
    std::shared_ptr<torch::nn::Module> model = nn::build_model(spec, ctx.common.seed, forward);  // theta0 from the seed
    model->to(device);
    TrainReport r;
    r.model = model_name;
    r.projection = projection;
    r.d = d;
    r.seed = ctx.common.seed;
    r.train_examples = tr.size();
    for (const auto& p : model->parameters()) r.D += p.numel();
    r.model_spec = nn::to_json(spec);
    {
      std::vector<torch::Tensor> flat;
      for (const auto& p : model->parameters()) flat.push_back(p.detach().reshape(-1));
      r.theta0 = nn::fingerprint_weights(torch::cat(flat));
    }
    std::unique_ptr<nn::Subspace> sub;
    nn::TrainOptions o = train;
    if (d > 0) {
      sub = std::make_unique<nn::Subspace>(*model, nn::ProjectionSpec{nn::parse_projection(projection, "--projection"), d,
                                                                     ctx.common.seed, static_cast<int64_t>(memory_budget_gb * 1e9)},
                                           l2);
    } else {
      o.optimizer.weight_decay += l2;  // direct training: the same L2 as a decay term on every parameter
    }
    log::info("{} (D = {}) {} on {} examples", model_name, r.D, d > 0 ? fmt::format("in a {} subspace of d = {}", projection, d) : "directly",
              tr.size());
    nn::TrainResult t;
    {
      auto timer = ctx.timers.scope("train");
      t = nn::train_classifier(*model, forward, tr, o, ctx.common.seed, device, {}, sub.get());
    }
    r.steps = t.steps;
    r.finished = t.finished;
    r.last_loss = t.last_loss;
    if (!t.finished) return r;  // --stop-after: the checkpoint holds the run
    const nn::EvalResult e = nn::evaluate(*model, forward, te, 1000, device);
    r.test_accuracy = e.accuracy;
    r.test_loss = e.loss;
    r.train_accuracy = nn::evaluate(*model, forward, tr, 1000, device).accuracy;  // with shuffled labels: what was memorised
    r.shuffled_labels = shuffle;
    check_stop();
    if (!save_weights.empty()) save_state_dict(*model, save_weights, provenance_metadata());
    write_report(out, r);
    return r;
  }
  cli::ImageDataOptions data;
  std::string model_name = "fc", projection = "fastfood", out, save_weights;
  std::vector<int64_t> hidden;
  int64_t d = 0;
  double memory_budget_gb = 4, l2 = 1e-5, shuffle = 0;
  nn::TrainOptions train;
};
}  // namespace

void add_train(cli::Tool& tool) { tool.add<TrainCommand>(); }
std::unique_ptr<cli::Command> make_train_command() { return std::make_unique<TrainCommand>(); }
