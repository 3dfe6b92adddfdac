// intdim-probe export: a finished subspace run as "seed + d floats" (theta_d and the model's spec in a
// tiny safetensors file); intdim-probe expand turns it back into dense weights.
#include <fmt/format.h>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/provenance.h"
#include "paramkit/core/signals.h"
#include "paramkit/io/json.h"
#include "paramkit/io/tensor_store.h"
#include "paramkit/nn/subspace.h"
#include "paramkit/torch/state_dict.h"

using namespace paramkit;

namespace {
struct ExportResult {
  int64_t d = 0, D = 0, bytes = 0;
};
void to_json(nlohmann::json& j, const ExportResult& r) { j = {{"d", r.d}, {"D", r.D}, {"bytes", r.bytes}}; }

struct ExportCommand : cli::TypedCommand<ExportResult> {
  ExportCommand()
      : TypedCommand("export", "A finished subspace run (its report and checkpoint) as seed + theta_d + the model's spec in a tiny file",
                     "intdim-probe export --report tests/data/intdim/solution-report.json --checkpoint "
                     "tests/data/intdim/solution.ckpt -o /tmp/intdim-solution.safetensors") {}
  void add_options(CLI::App& app) override {
    app.add_option("--report", report, "The run's report (intdim-probe train -o)")->required()->check(CLI::ExistingFile);
    app.add_option("--checkpoint", checkpoint, "The run's checkpoint (intdim-probe train --checkpoint), holding theta_d")->required()->check(CLI::ExistingFile);
    cli::add_output(app, out, "The solution (safetensors: theta_d, the spec in its metadata)");
  }
  ExportResult run(cli::Context&) override {
    const nlohmann::json r = read_json(report);
    auto field = [&](const char* key) -> const nlohmann::json& { return json_field(r, key, report); };
    if (!field("finished").is_boolean() || !field("finished").get<bool>()) throw InputError(report, "finished", "the run did not finish");
    if (!field("d").is_number_integer() || field("d").get<int64_t>() < 1)
      throw InputError(report, "d", "a direct run (d = 0) has no subspace solution; its weights come from train --save-weights");
    nn::SubspaceSolution s;
    s.model = nn::model_spec_from_json(field("model_spec"), report);
    if (!field("projection").is_string()) throw InputError(report, "projection", "expected dense, sparse or fastfood");
    s.projection.kind = nn::parse_projection(field("projection").get<std::string>(), report + ": projection");
    s.projection.d = field("d").get<int64_t>();
    if (!field("seed").is_number_unsigned()) throw InputError(report, "seed", "expected a non-negative integer");
    s.projection.seed = field("seed").get<uint64_t>();
    if (!field("D").is_number_integer() || field("D").get<int64_t>() < s.projection.d) throw InputError(report, "D", "expected an integer >= d");
    s.D = field("D").get<int64_t>();
    if (!field("theta0").is_string()) throw InputError(report, "theta0", "expected the fingerprint of the initial weights");
    s.theta0 = field("theta0").get<std::string>();
    if (!field("steps").is_number_integer()) throw InputError(report, "steps", "expected an integer");

    auto ck = open_tensors(checkpoint);
    if (!ck->contains("model.theta_d"))
      throw InputError(checkpoint, "model.theta_d", "missing: not the checkpoint of a subspace run of intdim-probe train");
    auto meta = ck->metadata().find("paramkit.checkpoint");
    if (meta != ck->metadata().end()) {
      const nlohmann::json m = parse_json(meta->second, checkpoint + ": paramkit.checkpoint");
      const int64_t step = m.value("/position/step"_json_pointer, int64_t{-1});
      if (step != field("steps").get<int64_t>())
        throw InputError(checkpoint, "position.step",
                         fmt::format("the checkpoint is at step {}, the report at step {}: not the same run", step, field("steps").get<int64_t>()));
    }
    s.theta_d = read_tensor(*ck, "model.theta_d", DType::F32);
    if (s.theta_d.dim() != 1 || s.theta_d.size(0) != s.projection.d)
      throw InputError(checkpoint, "model.theta_d", fmt::format("expected d = {} values (the report's d), got {}", s.projection.d, s.theta_d.numel()));
    check_stop();
    nn::save_subspace_solution(out, s, provenance_metadata());
    ExportResult res{s.projection.d, s.D, static_cast<int64_t>(std::filesystem::file_size(out))};
    log::info("{}: d = {} floats for D = {} parameters, {} bytes", out, res.d, res.D, res.bytes);
    return res;
  }
  std::string report, checkpoint, out;
};

struct ExpandResult {
  int64_t d = 0, D = 0;
};
void to_json(nlohmann::json& j, const ExpandResult& r) { j = {{"d", r.d}, {"D", r.D}}; }

struct ExpandCommand : cli::TypedCommand<ExpandResult> {
  ExpandCommand()
      : TypedCommand("expand", "A solution file (export) back to dense weights theta0 + P theta_d as a safetensors checkpoint",
                     "intdim-probe expand tests/data/intdim/solution.safetensors -o /tmp/intdim-dense.safetensors") {}
  void add_options(CLI::App& app) override {
    app.add_option("solution", solution, "The solution (intdim-probe export -o)")->required()->check(CLI::ExistingFile);
    cli::add_output(app, out, "Dense weights (safetensors, the library model's tensor names)");
  }
  ExpandResult run(cli::Context&) override {
    const nn::SubspaceSolution s = nn::load_subspace_solution(solution);
    std::function<torch::Tensor(torch::Tensor)> forward;
    auto model = nn::expand_subspace_solution(s, forward);
    check_stop();
    Metadata meta = provenance_metadata();
    meta["paramkit.model"] = nn::to_json(s.model).dump();
    save_state_dict(*model, out, meta);
    return {s.projection.d, s.D};
  }
  std::string solution, out;
};
}  // namespace

void add_export(cli::Tool& tool) { tool.add<ExportCommand>(); }
void add_expand(cli::Tool& tool) { tool.add<ExpandCommand>(); }
