// The model flags of train and params.
#include <fmt/format.h>

#include "commands.h"
#include "paramkit/core/error.h"

using namespace paramkit;

void add_model_flags(CLI::App& app, ModelFlags& f) {
  auto& o = f.o;
  app.add_option("--model", f.kind, "vit, vit-moe (MoE FFN in every 2nd block) or widenet (one shared attention + MoE for all blocks)")
      ->capture_default_str()
      ->check(CLI::IsMember({"vit", "vit-moe", "widenet"}));
  app.add_option("--depth", o.depth, "Transformer blocks")->capture_default_str()->check(CLI::Range(1, 1024));
  app.add_option("--width", o.width, "Hidden size d")->capture_default_str()->check(CLI::Range(1, 65536));
  app.add_option("--heads", o.heads, "Attention heads (divides --width)")->capture_default_str()->check(CLI::Range(1, 65536));
  app.add_option("--mlp-ratio", o.mlp_ratio, "FFN (and expert) hidden size / d")->capture_default_str()->check(CLI::Range(1, 64));
  app.add_option("--patch", o.patch, "Patch side in pixels (divides the image side)")->capture_default_str()->check(CLI::Range(1, 4096));
  app.add_option("--experts", o.experts, "MoE: experts E")->capture_default_str()->check(CLI::Range(1, 4096));
  app.add_option("--top-k", o.top_k, "MoE: experts per token")->capture_default_str()->check(CLI::Range(1, 4096));
  app.add_option("--capacity-factor", o.capacity_factor, "MoE: training capacity factor cf, C = floor(T cf k / E) (0: no limit)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e4));
  app.add_option("--eval-capacity-factor", o.eval_capacity_factor, "MoE: capacity factor at evaluation (0: no limit)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e4));
  f.noise = app.add_option("--router-noise", o.noise_std, "MoE: std of the training noise on the router logits (default 1/E)")
                ->check(CLI::Range(0.0, 1e3));
  app.add_option("--balance-alpha", o.balance_alpha, "MoE: load-balancing loss weight alpha")->capture_default_str()->check(CLI::Range(0.0, 1e3));
  f.share_group = app.add_option("--share-group", o.share_group,
                                 "Blocks per shared weight set (1: none, 0: all; default: widenet 0, others 1)")
                      ->check(CLI::Range(0, 1024));
  app.add_flag("--share-norms", o.share_norms, "Share the LayerNorms with the weights (the ablation; default: each block its own)");
  f.moe_every = app.add_option("--moe-every", o.moe_every,
                               "MoE FFN in every N-th block (0: none; default: vit 0, vit-moe 2, widenet 1)")
                    ->check(CLI::Range(0, 1024));
}

nn::VitOptions model_options(const ModelFlags& f, int64_t image_size, int64_t channels, int64_t classes) {
  nn::VitOptions o = f.o;
  const nn::VitOptions kind = nn::VitOptions::for_kind(f.kind);
  o.kind = f.kind;
  if (!f.share_group || f.share_group->count() == 0) o.share_group = kind.share_group;
  if (!f.moe_every || f.moe_every->count() == 0) o.moe_every = kind.moe_every;
  if (!f.noise || f.noise->count() == 0) o.noise_std = -1;
  o.image_size = image_size;
  o.channels = channels;
  o.classes = classes;
  if (o.moe_every == 0 && o.kind != "vit") throw UsageError(fmt::format("--moe-every 0: --model {} needs MoE blocks (use --model vit)", o.kind));
  o.validate();
  return o;
}

std::string variant_name(const nn::VitOptions& o) {
  std::string v = o.kind;
  const nn::VitOptions kind = nn::VitOptions::for_kind(o.kind);
  if (o.share_group != kind.share_group) v += fmt::format("-g{}", o.share_group);
  if (o.moe_every != kind.moe_every) v += fmt::format("-moe{}", o.moe_every);
  if (o.share_norms) v += "+shared-ln";
  return v;
}
