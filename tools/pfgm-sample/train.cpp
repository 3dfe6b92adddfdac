// pfgm-sample train: a denoiser for PFGM++ with augmentation dimension D (inf: EDM) on images (small
// U-Net) or points (MLP), EDM's training recipe, checkpoints and resume; the model file holds the EMA
// weights (the raw weights with --ema 0) and everything `sample` needs.
#include <fmt/format.h>

#include <filesystem>

#include "commands.h"
#include "paramkit/cli/nn_options.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/provenance.h"
#include "paramkit/core/signals.h"
#include "paramkit/gen/examples_io.h"
#include "paramkit/gen/model.h"
#include "paramkit/io/json.h"
#include "paramkit/torch/device.h"

using namespace paramkit;

namespace {
struct TrainCommand : cli::Command {
  TrainCommand()
      : Command("train", "Train a PFGM++ denoiser for one D (inf: EDM) on images (U-Net) or points (MLP)",
                "pfgm-sample train --data tests/data/pfgm/ring-train.csv --D 128 --hidden 64,64 --max-steps 200 -o /tmp/ring-d128.safetensors") {
    train.batch_size = 128;
    train.epochs = 100000;
    train.max_steps = 2000;
    train.optimizer.name = "adam";
    train.optimizer.lr = 1e-3;
    train.log_every = 0;
  }
  void add_options(CLI::App& app) override {
    app.add_option("--data", data, "Training data: images (IDX, or 'images' in .h5/.safetensors) or points (.csv, or 'points')")
        ->required()
        ->check(CLI::ExistingFile);
    cli::allow_infinity(app.add_option("--D", D_text, "Augmentation dimension D of PFGM++ (a positive number, or inf for EDM)")->capture_default_str());
    app.add_option("--p-mean", options.p_mean, "Training sigmas: ln sigma ~ N(P_mean, P_std^2)")->capture_default_str()->check(CLI::Range(-20.0, 20.0));
    app.add_option("--p-std", options.p_std, "Training sigmas: P_std")->capture_default_str()->check(CLI::Range(1e-3, 20.0));
    app.add_option("--sigma-data", spec.sigma_data, "Data standard deviation of EDM's preconditioning")->capture_default_str()->check(CLI::Range(1e-6, 1e6));
    app.add_option("--ema", ema_decay, "EMA decay of the saved weights (0: save the raw weights)")->capture_default_str()->check(CLI::Range(0.0, 0.999999));
    app.add_option("--base", spec.unet.base, "U-Net: channels at full resolution")->capture_default_str()->check(CLI::Range(4, 4096));
    app.add_option("--mult", mult_text, "U-Net: channel multiplier per level, comma-separated (each level after the first halves H and W)")
        ->capture_default_str();
    app.add_option("--blocks", spec.unet.blocks, "U-Net: residual blocks per level")->capture_default_str()->check(CLI::Range(1, 64));
    app.add_option("--hidden", hidden_text, "MLP: hidden widths, comma-separated")->capture_default_str();
    app.add_option("--embedding", embedding, "Noise-embedding width (even; default: U-Net 128, MLP 64)")->check(CLI::Range(2, 65536));
    app.add_option("--limit", limit, "Use the first N examples (0: all)")->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
    app.add_option("--report", report, "Also write the report (JSON) here");
    cli::add_training(app, train);
    cli::add_output(app, out, "The model (safetensors): weights, D and data scaling, what sample reads");
  }

  nlohmann::json execute(cli::Context& ctx) override {
    options.train = train;
    options.D = spec.D = gen::parse_D(D_text, "--D");
    options.sigma_data = spec.sigma_data;
    options.validate();
    if (!report.empty() && std::filesystem::path(report) == std::filesystem::path(out)) throw UsageError("--report and --output must differ");
    const c10::Device device = parse_device(ctx.common.device);
    gen::Examples e = gen::load_examples(data);
    if (limit > 0 && limit < e.x.size(0)) e.x = e.x.narrow(0, 0, limit);
    if (e.x.size(0) < 2) throw InputError(data, e.kind, "need at least 2 examples to train on");
    spec.shape = e.x.sizes().vec();
    spec.shape.erase(spec.shape.begin());
    if (e.kind == "images") {
      spec.kind = "unet";
      spec.unet.mult.clear();
      for (double v : cli::parse_list(mult_text, "--mult")) spec.unet.mult.push_back(static_cast<int64_t>(v));
      spec.unet.channels = spec.shape[0];
      spec.unet.embedding = embedding > 0 ? embedding : 128;
      spec.offset = {0.5};
      spec.scale = {2.0};
    } else {
      spec.kind = "mlp";
      spec.hidden.clear();
      for (double v : cli::parse_list(hidden_text, "--hidden")) spec.hidden.push_back(static_cast<int64_t>(v));
      spec.embedding = embedding > 0 ? embedding : 64;
      gen::fit_point_scaling(spec, e.x);
    }
    torch::manual_seed(ctx.common.seed);
    gen::DenoiserModel m = gen::build_denoiser(spec);
    m.net->to(device);
    int64_t params = 0;
    for (const auto& p : m.net->parameters()) params += p.numel();
    const torch::Tensor x = gen::to_model_space(spec, e.x).to(device);
    log::info("{} denoiser ({} parameters), D = {}, {} {} of shape {}", spec.kind, params, gen::format_D(spec.D), x.size(0), e.kind,
              fmt::join(spec.shape, "x"));
    std::unique_ptr<nn::Ema> ema;
    if (ema_decay > 0) ema = std::make_unique<nn::Ema>(*m.net, ema_decay);
    nn::TrainResult t;
    {
      auto timer = ctx.timers.scope("train");
      t = gen::train_denoiser(*m.net, m.f, x, options, ctx.common.seed, ema.get());
    }
    nlohmann::json r = {{"kind", spec.kind},        {"D", gen::format_D(spec.D)}, {"parameters", params},
                        {"examples", x.size(0)},    {"shape", spec.shape},        {"steps", t.steps},
                        {"finished", t.finished},   {"resumed", t.resumed},       {"last_loss", json_number(t.last_loss)},
                        {"ema", ema_decay},         {"model", gen::to_json(spec)}};
    if (!t.finished) return r;  // --stop-after: the checkpoint holds the run
    check_stop();
    if (ema) ema->copy_to(*m.net);
    m.net->to(torch::kCPU);
    Metadata meta = provenance_metadata();
    meta["paramkit.pfgm.train"] = nlohmann::json({{"steps", t.steps}, {"data", data}, {"ema", ema_decay}}).dump();
    gen::save_denoiser(m, out, meta);
    r["output"] = out;
    if (!report.empty()) write_report(report, r);
    return r;
  }
  std::string data, D_text = "inf", mult_text = "1,2,2", hidden_text = "256,256,256", out, report;
  gen::DenoiserSpec spec;
  gen::DenoiserTrainOptions options;
  nn::TrainOptions train;
  double ema_decay = 0.999;
  int64_t embedding = 0, limit = 0;
};
}  // namespace

void add_train(cli::Tool& tool) { tool.add<TrainCommand>(); }
