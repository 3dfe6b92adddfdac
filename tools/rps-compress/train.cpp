// rps-compress train: one model, one method, one compression, one seed. Sharing methods train z (the
// shared array) and the dense biases; pruning methods train the masked dense model; dense is the
// uncompressed baseline.
#include <fmt/format.h>

#include <cmath>
#include <filesystem>

#include "commands.h"
#include "paramkit/cli/nn_options.h"
#include "paramkit/cli/options.h"
#include "paramkit/compress/prune.h"
#include "paramkit/compress/rps.h"
#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/provenance.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/json.h"
#include "paramkit/nn/models.h"
#include "paramkit/nn/train.h"
#include "paramkit/torch/device.h"
#include "paramkit/torch/state_dict.h"

using namespace paramkit;

namespace {
struct TrainReport {
  std::string method, model;
  nlohmann::json model_spec, options;
  double compression = 1;
  int64_t weights = 0, dense = 0, stored = 0, steps = 0, train_examples = 0, rounds = 0;
  uint64_t seed = 0;
  double test_accuracy = NAN, test_loss = NAN, train_accuracy = NAN, last_loss = NAN;
  bool finished = false;
};
void to_json(nlohmann::json& j, const TrainReport& r) {
  j = {{"method", r.method},       {"model", r.model},        {"model_spec", r.model_spec}, {"compression", r.compression},
       {"weights", r.weights},     {"dense", r.dense},        {"stored", r.stored},         {"options", r.options},
       {"seed", r.seed},           {"steps", r.steps},        {"rounds", r.rounds},         {"train_examples", r.train_examples},
       {"finished", r.finished},   {"last_loss", json_number(r.last_loss)}, {"test_accuracy", json_number(r.test_accuracy)},
       {"test_loss", json_number(r.test_loss)}, {"train_accuracy", json_number(r.train_accuracy)}};
}

bool is_sharing(const std::string& m) { return m == "hashednet" || m == "roast" || m == "rps"; }

struct TrainCommand : cli::TypedCommand<TrainReport> {
  TrainCommand()
      : TypedCommand("train", "Train one model compressed by one method to a fraction of its weights, and report its test accuracy",
                     "rps-compress train --train-images tests/data/mnist-256-images-idx3-ubyte.gz --train-labels "
                     "tests/data/mnist-256-labels-idx1-ubyte.gz --model mlp --method rps --compression 0.1 --epochs 2 -o /tmp/rps.json") {
    train.batch_size = 128;
    train.epochs = 10;
    train.optimizer.name = "sgd";
    train.optimizer.lr = 0.05;
    train.optimizer.momentum = 0.9;
    train.log_every = 0;
  }
  void add_options(CLI::App& app) override {
    cli::add_image_data(app, data);
    app.add_option("--model", model_name, "mlp (--hidden), lenet (unpadded LeNet-5), lenet5 (padded to 32x32), resnet20 or vgg11")
        ->capture_default_str()
        ->check(CLI::IsMember({"mlp", "lenet", "lenet5", "resnet20", "vgg11"}));
    app.add_option("--hidden", hidden, "mlp: hidden widths")->delimiter(',');
    app.add_option("--method", method, "dense, hashednet, roast, rps (STABLE-RPS), mag, snip, grasp, synflow or ltr")
        ->capture_default_str()
        ->check(CLI::IsMember({"dense", "hashednet", "roast", "rps", "mag", "snip", "grasp", "synflow", "ltr"}));
    app.add_option("--compression", compression, "Parameters kept, as a fraction of the model's weight matrices and kernels (1: all)")
        ->capture_default_str()
        ->check(CLI::Range(1e-9, 1.0));
    app.add_option("--init-std", init_std, "Sharing: the std of z at initialisation")->capture_default_str()->check(CLI::Range(1e-12, 1e6));
    app.add_option("--block", block, "ROAST: block side")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
    app.add_option("--grad-scaler", scaler, "Sharing: the STABLE-RPS gradient scaler (auto: on for rps, off otherwise)")
        ->capture_default_str()
        ->check(CLI::IsMember({"auto", "on", "off"}));
    app.add_option("--synflow-rounds", synflow_rounds, "SynFlow: pruning rounds")->capture_default_str()->check(CLI::Range(1, 10000));
    app.add_option("--prune-batch", prune_batch, "SNIP, GraSP: examples in the scoring batch")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
    app.add_option("--ltr-rate", ltr_rate, "Lottery tickets: fraction of the remaining weights pruned per round")
        ->capture_default_str()
        ->check(CLI::Range(0.01, 0.99));
    app.add_option("--save", save, "The compressed model (sharing: seed + z + dense biases; pruning: the masked weights)");
    app.add_option("--save-weights", save_weights, "The trained model's dense weights (safetensors)");
    cli::add_training(app, train);
    cli::add_output(app, out, "Report (JSON)");
  }

  TrainReport run(cli::Context& ctx) override {
    train.validate();
    if (!hidden.empty() && model_name != "mlp") throw UsageError("--hidden is for --model mlp");
    if (method == "dense" && compression != 1) throw UsageError("--method dense keeps every weight: --compression must be 1");
    for (const auto& [a, b] : {std::pair{save, out}, std::pair{save_weights, out}, std::pair{save, save_weights}})
      if (!a.empty() && !b.empty() && std::filesystem::path(a) == std::filesystem::path(b)) throw UsageError("--save, --save-weights and --output must differ");
    const c10::Device device = parse_device(ctx.common.device);
    cli::TrainTest tt = cli::load_image_data(data, ctx.common.seed);
    nn::ModelSpec spec;
    spec.name = model_name;
    spec.in_shape.assign(tt.train.x.sizes().begin() + 1, tt.train.x.sizes().end());
    spec.classes = std::max<int64_t>(10, tt.train.y.max().item<int64_t>() + 1);
    spec.hidden = hidden;
    std::function<torch::Tensor(torch::Tensor)> forward;
    auto model = nn::build_model(spec, ctx.common.seed, forward);
    model->to(device);

    TrainReport r;
    r.method = method;
    r.model = model_name;
    r.model_spec = nn::to_json(spec);
    r.compression = compression;
    r.seed = ctx.common.seed;
    r.train_examples = tt.train.size();
    for (const auto& p : model->named_parameters()) (compress::is_shared_weight(p.key(), p.value()) ? r.weights : r.dense) += p.value().numel();
    const int64_t keep = std::max<int64_t>(1, std::llround(compression * static_cast<double>(r.weights)));
    nn::TrainResult t;
    std::unique_ptr<compress::SharedWeights> shared;
    auto timer = ctx.timers.scope("train");
    if (method == "dense") {
      r.stored = r.weights + r.dense;
      t = nn::train_classifier(*model, forward, tt.train, train, ctx.common.seed, device);
    } else if (is_sharing(method)) {
      compress::ShareSpec s;
      s.mapper = compress::parse_mapper(method, "--method");
      s.compression = compression;
      s.seed = ctx.common.seed;
      s.block = block;
      s.init_std = init_std;
      s.grad_scaler = scaler == "on" || (scaler == "auto" && method == "rps");
      shared = std::make_unique<compress::SharedWeights>(*model, s);
      r.stored = shared->slots() + shared->dense_count();
      r.options = {{"init_std", init_std}, {"grad_scaler", s.grad_scaler}, {"block", block}, {"slots", shared->slots()}};
      log::info("{}: {} weights read from {} shared slots ({}x), {} dense parameters", method, r.weights, shared->slots(), compression, r.dense);
      t = nn::train_classifier(*model, forward, tt.train, train, ctx.common.seed, device, {}, shared.get());
    } else if (method == "ltr") {
      t = train_lottery(*model, forward, tt.train, keep, device, ctx, r);
      r.steps = 0;
    } else {
      const compress::Pruner pruner = compress::parse_pruner(method, "--method");
      const int64_t nb = std::min<int64_t>(prune_batch, tt.train.size());
      std::vector<int64_t> rows(static_cast<size_t>(nb));
      for (int64_t i = 0; i < nb; ++i) rows[i] = i;
      const Dataset batch = tt.train.subset(rows);
      auto masks = compress::prune_masks(*model, forward, pruner, keep, batch.x.to(device), batch.y.to(device), synflow_rounds);
      compress::MaskedWeights mw(*model, masks);
      r.stored = mw.kept() + r.dense;
      r.options = {{"kept", mw.kept()}};
      if (pruner == compress::Pruner::synflow) r.options["rounds"] = synflow_rounds;
      t = nn::train_classifier(*model, forward, tt.train, train, ctx.common.seed, device, {}, &mw);
    }
    r.steps += t.steps;
    r.finished = t.finished;
    r.last_loss = t.last_loss;
    if (!t.finished) return r;  // --stop-after: the checkpoint holds the run
    const nn::EvalResult e = nn::evaluate(*model, forward, tt.test, 1000, device);
    r.test_accuracy = e.accuracy;
    r.test_loss = e.loss;
    r.train_accuracy = nn::evaluate(*model, forward, tt.train, 1000, device).accuracy;
    check_stop();
    if (!save.empty()) {
      if (shared)
        compress::save_compressed(save, *shared, spec, provenance_metadata());
      else
        save_state_dict(*model, save, provenance_metadata());
    }
    if (!save_weights.empty()) save_state_dict(*model, save_weights, provenance_metadata());
    write_report(out, r);
    return r;
  }

  // Lottery-ticket rewinding: train, prune ltr_rate of the remaining weights by magnitude, rewind to
  // the initial weights (and a fresh optimizer), retrain, until `keep` remain. All rounds are one run of
  // the shared step loop, the masks in the checkpoint, so a stopped run resumes inside any round.
  nn::TrainResult train_lottery(torch::nn::Module& model, const std::function<torch::Tensor(torch::Tensor)>& forward, const Dataset& data,
                                int64_t keep, c10::Device device, cli::Context& ctx, TrainReport& r) {
    std::vector<torch::Tensor> initial;
    for (const auto& p : model.parameters()) initial.push_back(p.detach().clone());
    auto weights = compress::prunable(model);
    int64_t total = 0;
    for (auto& [n, w] : weights) total += w.numel();
    int rounds = 0;
    for (double left = static_cast<double>(total); std::llround(left) > keep; left *= 1 - ltr_rate) ++rounds;
    std::vector<torch::Tensor> masks;
    for (auto& [n, w] : weights) masks.push_back(torch::ones_like(w, torch::kFloat32));
    compress::MaskedWeights mw(model, masks);
    torch::nn::Module holder;
    std::vector<torch::Tensor> params;
    for (auto& [name, t] : mw.trainable()) {
      params.push_back(t);
      holder.register_parameter(name, t);
    }
    for (auto& [name, t] : mw.state()) holder.register_buffer(name, t);
    for (size_t i = 0; i < mw.masks().size(); ++i) holder.register_buffer("mask__" + std::to_string(i), mw.masks()[i]);
    nn::TrainOptions o = train;
    const int64_t per_epoch = (data.size() + o.batch_size - 1) / o.batch_size;
    const int64_t per_round = o.max_steps > 0 ? o.max_steps : o.epochs * per_epoch;
    o.max_steps = per_round * (rounds + 1);
    o.epochs = (o.max_steps + per_epoch - 1) / per_epoch;
    auto optimizer = nn::make_optimizer(o.optimizer, params);
    model.to(device);
    model.train();
    const nn::TrainResult t = nn::train_steps(
        holder, *optimizer, data.size(), o, ctx.common.seed, "train", [&](const std::vector<int64_t>& rows, const TrainPosition& pos) {
          if (pos.step > 0 && pos.step % per_round == 0) {  // a new round: prune, rewind, fresh optimizer state
            const int64_t k = pos.step / per_round;
            const int64_t keep_k = k == rounds ? keep : std::max<int64_t>(keep, std::llround(static_cast<double>(total) * std::pow(1 - ltr_rate, k)));
            std::vector<torch::Tensor> scores;
            for (size_t i = 0; i < weights.size(); ++i)
              scores.push_back(torch::where(mw.masks()[i].to(torch::kCPU) > 0, weights[i].second.detach().abs().to(torch::kCPU, torch::kFloat32),
                                            torch::full_like(mw.masks()[i], -1.0, torch::kCPU)));
            mw.set_masks(compress::top_masks(scores, keep_k));
            torch::NoGradGuard g;
            auto ps = model.parameters();
            for (size_t i = 0; i < ps.size(); ++i) ps[i].copy_(initial[i]);  // rewind
            optimizer->state().clear();
            log::info("lottery round {} of {}: {} weights", k, rounds, mw.kept());
          }
          torch::Tensor idx = torch::tensor(rows, torch::kInt64);
          torch::Tensor x = data.x.index_select(0, idx).to(device);
          torch::Tensor y = data.y.index_select(0, idx).to(device);
          mw.load();
          torch::Tensor loss = torch::nn::functional::cross_entropy(forward(x), y);
          loss.backward();
          mw.backward();
          return loss.item<double>();
        });
    mw.load();
    r.rounds = rounds;
    r.stored = mw.kept() + r.dense;
    r.options = {{"kept", mw.kept()}, {"rate", ltr_rate}, {"steps_per_round", per_round}};
    return t;
  }

  cli::ImageDataOptions data;
  std::string model_name = "mlp", method = "rps", scaler = "auto", out, save, save_weights;
  std::vector<int64_t> hidden;
  double compression = 1, init_std = 0.01, ltr_rate = 0.2;
  int64_t block = 32, prune_batch = 256;
  int synflow_rounds = 100;
  nn::TrainOptions train;
};
}  // namespace

void add_train(cli::Tool& tool) { tool.add<TrainCommand>(); }
std::unique_ptr<cli::Command> make_train_command() { return std::make_unique<TrainCommand>(); }
