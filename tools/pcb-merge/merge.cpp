// pcb-merge's one command: flags -> merge job -> a merge, or a lambda search whose best merge is the output.
#include <optional>

#include "commands.h"
#include "options.h"
#include "paramkit/core/log.h"

using namespace paramkit;

namespace {

struct MergeOutcome {
  merge::MergeResult merge;                  // the output's merge
  std::optional<merge::SearchResult> search;  // --search: the candidates (search->merge is `merge`)
};

void to_json(nlohmann::json& j, const MergeOutcome& r) {
  if (r.search) j = *r.search;
  else j = r.merge;
}

struct MergeCommand : cli::TypedCommand<MergeOutcome> {
  MergeCommand()
      : TypedCommand("pcb-merge", "Merge fine-tuned models of one base model",
                     "pcb-merge --base tests/data/tiny-model.safetensors --models tests/data/tiny-model.safetensors "
                     "tests/data/tiny-model.safetensors --method pcb --pcb-ratio 0.1 --lambda 1.2 -o /tmp/merged.safetensors") {}
  void add_options(CLI::App& app) override { flags.add_options(app); }
  MergeOutcome run(cli::Context& ctx) override {
    const merge::MergeJob job = flags.make_job(ctx.common);
    const merge::SearchOptions search = flags.make_search();
    MergeOutcome r;
    if (search.kind == "none") {
      r.merge = merge::run_merge(job);
    } else {
      r.search = merge::search_lambda(job, search);
      r.merge = r.search->merge;
    }
    log::info("wrote {} ({} tensors merged, {} copied)", job.out.string(), r.merge.merged, r.merge.copied);
    return r;
  }
  MergeFlags flags;
};

}  // namespace

void add_merge(cli::Tool& tool) { tool.add_main<MergeCommand>(); }
