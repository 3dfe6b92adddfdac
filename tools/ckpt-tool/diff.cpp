// ckpt-tool diff: per-tensor differences of two checkpoints; exit 1 when they differ beyond tolerance.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>

#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/io/ckpt_ops.h"

using namespace paramkit;

namespace {
struct DiffCommand : cli::TypedCommand<DiffReport> {
  DiffCommand()
      : TypedCommand("diff", "Per-tensor max abs/rel differences; exit 1 when beyond --atol/--rtol",
                     "ckpt-tool diff tests/data/tiny-model.safetensors tests/data/tiny-model.safetensors --bitwise") {}
  void add_options(CLI::App& app) override {
    app.add_option("a", a, "First checkpoint")->required();
    app.add_option("b", b, "Second checkpoint (the reference for --rtol)")->required();
    // NaN passes CLI11's NonNegativeNumber (and would make every comparison "equal"): finite, >= 0.
    const CLI::Validator tolerance(
        [](std::string& s) -> std::string {
          char* end = nullptr;
          const double v = std::strtod(s.c_str(), &end);
          if (s.empty() || *end != '\0' || !std::isfinite(v) || v < 0)
            return "expected a finite number >= 0, got '" + s.substr(0, 40) + "'";
          return "";
        },
        "FINITE >= 0");
    app.add_option("--atol", atol, "Absolute tolerance")->capture_default_str()->check(tolerance);
    app.add_option("--rtol", rtol, "Relative tolerance")->capture_default_str()->check(tolerance);
    cli::add_print(app, print, /*with_table=*/false);
    app.add_flag("--ignore-dtype", ignore_dtype, "Compare values of tensors whose dtypes differ");
    app.add_flag("--bitwise", bitwise, "Compare stored bytes (byte-for-byte equality of every tensor)");
  }
  DiffReport run(cli::Context& ctx) override {
    auto ra = open_tensors(a);
    auto rb = open_tensors(b);
    if (bitwise && ignore_dtype) throw UsageError("--bitwise and --ignore-dtype exclude each other");
    DiffReport rep = diff_stores(*ra, *rb, atol, rtol, !ignore_dtype, bitwise);
    if (print.json) {
      std::cout << nlohmann::json(rep).dump(2) << "\n";
    } else {
      size_t w = 4;
      for (const auto& t : rep.tensors) w = std::max(w, t.name.size());
      std::cout << fmt::format("{:<{}}  {:<8} {:>12} {:>12} {:>10}\n", "name", w, "status", "max_abs", "max_rel", "beyond");
      for (const auto& t : rep.tensors)
        std::cout << fmt::format("{:<{}}  {:<8} {:>12.4g} {:>12.4g} {:>10}\n", t.name, w, t.status, t.max_abs, t.max_rel, t.mismatched);
    }
    if (!rep.equal) {
      log::info("checkpoints differ beyond atol={} rtol={}", atol, rtol);
      ctx.exit_code = 1;
    }
    return rep;
  }
  std::string a, b;
  double atol = 0, rtol = 0;
  cli::PrintOptions print;
  bool ignore_dtype = false, bitwise = false;
};
}  // namespace

void add_diff(cli::Tool& tool) { tool.add<DiffCommand>(); }
