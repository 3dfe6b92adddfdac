// widenet-train's subcommands, one file each, and the model flags that train and params share.
#pragma once
#include <CLI/CLI.hpp>

#include "paramkit/cli/tool.h"
#include "paramkit/nn/vit.h"

void add_train(paramkit::cli::Tool& tool);
void add_evaluate(paramkit::cli::Tool& tool);
void add_params(paramkit::cli::Tool& tool);
void add_plot(paramkit::cli::Tool& tool);

// --model, --depth, --width, --heads, --mlp-ratio, --patch, --experts, --top-k, --capacity-factor,
// --eval-capacity-factor, --router-noise, --balance-alpha, --share-group, --share-norms, --moe-every.
struct ModelFlags {
  std::string kind = "widenet";
  paramkit::nn::VitOptions o;  // the numbers; the kind's sharing and MoE placement unless given
  CLI::Option *share_group = nullptr, *moe_every = nullptr, *noise = nullptr;
};
void add_model_flags(CLI::App& app, ModelFlags& f);
// The options for images of `image_size` x `image_size` with `channels` channels and `classes` classes
// (UsageError naming the flag for impossible combinations).
paramkit::nn::VitOptions model_options(const ModelFlags& f, int64_t image_size, int64_t channels, int64_t classes);
// "vit", "vit-moe", "widenet", with "+shared-ln" for shared LayerNorms and "-g<k>" for a sharing group
// other than the kind's: how plots and tables group runs.
std::string variant_name(const paramkit::nn::VitOptions& o);
