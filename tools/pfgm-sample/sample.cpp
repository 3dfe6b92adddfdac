// pfgm-sample sample: samples of a trained model with EDM's sampler (Heun by default, 18 steps) from the
// PFGM++ prior of its D; the robustness study's perturbations (weight noise, quantisation, output noise)
// as options; an image grid (PNG) or a scatter of the points (SVG).
#include <fmt/format.h>

#include <filesystem>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/progress.h"
#include "paramkit/core/signals.h"
#include "paramkit/gen/examples_io.h"
#include "paramkit/gen/model.h"
#include "paramkit/io/atomic_file.h"
#include "paramkit/io/png.h"
#include "paramkit/io/svg_plot.h"
#include "paramkit/torch/device.h"

using namespace paramkit;

namespace {
std::string lower_ext(const std::string& p) {
  std::string e = std::filesystem::path(p).extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return e;
}

void check_grid(const std::string& path, const std::string& kind, int64_t dims) {
  const std::string ext = lower_ext(path);
  if (kind == "images" && ext != ".png") throw UsageError(fmt::format("--grid {}: image samples make a PNG grid (.png)", path));
  if (kind == "points" && ext != ".svg") throw UsageError(fmt::format("--grid {}: point samples make an SVG scatter (.svg)", path));
  if (kind == "points" && dims < 2) throw UsageError("--grid: a scatter needs points of at least 2 dimensions");
}

void write_grid(const std::string& path, const gen::Examples& e, int64_t cols, int64_t max_items) {
  if (e.kind == "images") {
    const int64_t n = std::min<int64_t>(e.x.size(0), max_items);
    const torch::Tensor u8 = (e.x.narrow(0, 0, n).clamp(0, 1) * 255).round().to(torch::kUInt8).contiguous();
    const std::vector<uint8_t> px(u8.data_ptr<uint8_t>(), u8.data_ptr<uint8_t>() + u8.numel());
    write_png(path, tile_images(px, n, u8.size(1), u8.size(2), u8.size(3), cols, 2, 0));
    return;
  }
  const int64_t n = std::min<int64_t>(e.x.size(0), max_items);
  const torch::Tensor p = e.x.narrow(0, 0, n).to(torch::kFloat64).contiguous();
  PlotSeries s;
  s.label = "samples";
  s.line = false;
  s.points = true;
  for (int64_t i = 0; i < n; ++i) {
    s.x.push_back(p[i][0].item<double>());
    s.y.push_back(p[i][1].item<double>());
  }
  PlotOptions o;
  o.title = e.about.value("title", std::string("samples"));
  o.x_label = "x1";
  o.y_label = "x2";
  o.equal_aspect = true;
  write_file_atomic(path, svg_plot({s}, o));
}

struct SampleCommand : cli::Command {
  SampleCommand()
      : Command("sample", "Draw samples from a trained model (EDM's Heun sampler from the PFGM++ prior of its D)",
                "pfgm-sample sample tests/data/pfgm/ring-d128.safetensors -n 500 -o /tmp/ring-samples.csv --grid /tmp/ring-samples.svg") {}
  void add_options(CLI::App& app) override {
    app.add_option("model", model_path, "The model (pfgm-sample train -o)")->required()->check(CLI::ExistingFile);
    app.add_option("-n,--count", n, "Samples")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{10000000}));
    app.add_option("--steps", sampler.steps, "Sampler steps (Heun: 2 steps - 1 network evaluations)")->capture_default_str()->check(CLI::Range(1, 100000));
    app.add_option("--method", sampler.method, "heun or euler")->capture_default_str()->check(CLI::IsMember({"heun", "euler"}));
    app.add_option("--churn", sampler.churn, "EDM's S_churn (0: the deterministic sampler)")->capture_default_str()->check(CLI::Range(0.0, 1e6));
    app.add_option("--s-tmin", sampler.s_tmin, "Churn only for sigma >= S_tmin")->capture_default_str()->check(CLI::Range(0.0, 1e6));
    app.add_option("--s-tmax", s_tmax, "Churn only for sigma <= S_tmax (0: no limit)")->capture_default_str()->check(CLI::Range(0.0, 1e6));
    app.add_option("--s-noise", sampler.s_noise, "Churn noise scale S_noise")->capture_default_str()->check(CLI::Range(1e-6, 10.0));
    app.add_option("--sigma-min", sampler.sigma_min, "Schedule's smallest sigma")->capture_default_str()->check(CLI::Range(1e-9, 1e6));
    app.add_option("--sigma-max", sampler.sigma_max, "Schedule's largest sigma (the prior's scale)")->capture_default_str()->check(CLI::Range(1e-9, 1e6));
    app.add_option("--rho", sampler.rho, "Schedule's rho")->capture_default_str()->check(CLI::Range(1e-3, 1000.0));
    cli::allow_infinity(app.add_option("--D", D_text, "Sample with this D instead of the model's (the prior only; a mismatch study)"));
    app.add_option("--batch-size", batch, "Samples per sampler batch")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
    app.add_option("--weight-noise", weight_noise, "Robustness: theta <- theta + alpha |theta| eps before sampling")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 100.0));
    app.add_option("--quantize-bits", quant_bits, "Robustness: round every weight to this many bits (0: off)")->capture_default_str()->check(CLI::Range(0, 16));
    app.add_option("--output-noise", output_noise, "Robustness: add alpha eps to the denoiser's output (model space: data std 0.5)")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 100.0));
    app.add_option("--grid", grid, "Also draw the samples: a PNG grid of images or an SVG scatter of points (first two coordinates)");
    app.add_option("--grid-count", grid_count, "Samples in the grid or scatter")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
    app.add_option("--grid-cols", grid_cols, "Images per grid row")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{4096}));
    cli::add_output(app, out, "Samples: .h5/.safetensors (with the run's description), .idx (images) or .csv (points)");
  }

  nlohmann::json execute(cli::Context& ctx) override {
    if (quant_bits == 1) throw UsageError("--quantize-bits 1: need at least 2 bits (0: off)");
    if (s_tmax > 0) sampler.s_tmax = s_tmax;
    if (!grid.empty() && std::filesystem::path(grid) == std::filesystem::path(out)) throw UsageError("--grid and --output must differ");
    const c10::Device device = parse_device(ctx.common.device);
    gen::DenoiserModel m = gen::load_denoiser(model_path);
    sampler.D = D_text.empty() ? m.spec.D : gen::parse_D(D_text, "--D");
    sampler.validate();
    const std::string kind = m.spec.kind == "unet" ? "images" : "points";
    gen::check_output_path(out, kind);
    if (!grid.empty()) check_grid(grid, kind, m.spec.shape[0]);
    if (weight_noise > 0) gen::add_weight_noise(*m.net, weight_noise, ctx.common.seed + 7919);
    if (quant_bits > 0) gen::quantize_weights(*m.net, quant_bits);
    m.net->to(device);
    m.net->eval();
    const gen::Denoiser base = gen::as_denoiser(m.f, m.spec.sigma_data);
    gen::Denoiser den = [base, device](const torch::Tensor& x, double s) { return base(x.to(device), s).to(torch::kCPU); };
    den = gen::with_output_noise(den, output_noise);
    torch::manual_seed(ctx.common.seed);
    std::vector<torch::Tensor> parts;
    Progress bar("sample", n);
    {
      auto timer = ctx.timers.scope("sample");
      for (int64_t done = 0; done < n;) {
        check_stop();
        const int64_t b = std::min(batch, n - done);
        std::vector<int64_t> shape = {b};
        shape.insert(shape.end(), m.spec.shape.begin(), m.spec.shape.end());
        parts.push_back(gen::from_model_space(m.spec, gen::sample(den, shape, sampler)).to(torch::kFloat32));
        done += b;
        bar.update(done);
      }
    }
    bar.finish();
    gen::Examples e;
    e.kind = kind;
    e.x = torch::cat(parts);
    if (e.kind == "images") e.x = e.x.clamp(0, 1);
    const int64_t nonfinite = (~torch::isfinite(e.x)).reshape({e.x.size(0), -1}).any(1).sum().item<int64_t>();
    if (nonfinite > 0) log::warn("{} of {} samples have NaN or infinite values (a diverged sampler)", nonfinite, n);
    const nlohmann::json about = {{"model", model_path},     {"D", gen::format_D(sampler.D)}, {"trained_D", gen::format_D(m.spec.D)},
                                  {"steps", sampler.steps},  {"method", sampler.method},      {"churn", sampler.churn},
                                  {"sigma_min", sampler.sigma_min}, {"sigma_max", sampler.sigma_max}, {"rho", sampler.rho},
                                  {"n", n},                  {"seed", ctx.common.seed},      {"weight_noise", weight_noise},
                                  {"quantize_bits", quant_bits}, {"output_noise", output_noise},
                                  {"nfe_per_sample", sampler.method == "heun" ? 2 * sampler.steps - 1 : sampler.steps},
                                  {"title", fmt::format("D = {}", gen::format_D(sampler.D))}};
    e.about = about;
    check_stop();
    gen::save_examples(out, e, about);
    if (!grid.empty()) write_grid(grid, e, grid_cols, grid_count);
    nlohmann::json r = about;
    r.erase("title");
    r["nonfinite"] = nonfinite;
    r["output"] = out;
    return r;
  }
  std::string model_path, D_text, out, grid;
  gen::SamplerOptions sampler;
  double s_tmax = 0, weight_noise = 0, output_noise = 0;
  int quant_bits = 0;
  int64_t n = 64, batch = 256, grid_count = 64, grid_cols = 8;
};
}  // namespace

void add_sample(cli::Tool& tool) { tool.add<SampleCommand>(); }
