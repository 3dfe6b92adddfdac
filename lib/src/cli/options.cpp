#include "paramkit/cli/options.h"

#include <cmath>
#include <sstream>

#include "paramkit/core/error.h"
#include "paramkit/io/tensor_store.h"

namespace paramkit::cli {

CLI::Option* add_output(CLI::App& app, std::string& path, const std::string& help, bool required) {
  CLI::Option* o = app.add_option("-o,--output", path, help)->group("Outputs");
  if (required) o->required();
  return o;
}

CLI::Option* add_output_file(CLI::App& app, const std::string& flag, std::string& path, const std::string& help) {
  return app.add_option(flag, path, help)->group("Outputs");
}

void add_print(CLI::App& app, PrintOptions& o, bool with_table, bool with_json) {
  if (with_json) app.add_flag("--json", o.json, "Print the result as JSON on stdout");
  if (with_table) app.add_flag("--table", o.table, "Print a readable summary on stdout");
}

void add_checkpointing(CLI::App& app, CheckpointOptions& o, const std::string& unit) {
  app.add_option("--checkpoint", o.path, "Checkpoint file, written atomically (model, optimizer, RNG, position)")->group("Outputs");
  app.add_option("--checkpoint-every", o.every, "Checkpoint every N " + unit + " (0: only at the end and at a stop)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  app.add_flag("--resume", o.resume, "Continue from --checkpoint when it exists");
  app.add_option("--stop-after", o.stop_after, "Stop this run after N " + unit + " with a checkpoint (--resume continues)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
}

void add_dtype(CLI::App& app, std::optional<DType>& dtype, const std::string& help, std::vector<DType> allowed) {
  app.add_option_function<std::string>(
      "--dtype",
      [&dtype, allowed](const std::string& s) {
        auto d = parse_dtype(s);
        bool ok = d && dtype_is_float(*d);
        if (ok && !allowed.empty()) ok = std::find(allowed.begin(), allowed.end(), *d) != allowed.end();
        if (!ok) {
          std::string names;
          if (allowed.empty()) names = "F32, F16, BF16, F64, F8_E4M3, F8_E5M2";
          for (DType a : allowed) names += (names.empty() ? "" : ", ") + std::string(dtype_name(a));
          throw CLI::ValidationError("--dtype", "expected one of " + names + ", got '" + s + "'");
        }
        dtype = d;
      },
      help);
}

void add_shard_size(CLI::App& app, uint64_t& bytes) {
  app.add_option_function<std::string>(
      "--shard-size",
      [&bytes](const std::string& s) {
        try {
          bytes = parse_size(s, "--shard-size");
        } catch (const UsageError& e) {
          throw CLI::ValidationError(e.what());
        }
      },
      "Max bytes per shard for folder outputs (e.g. 2GB, 500MB; default 5GB)");
}

double parse_number(const std::string& s, const std::string& flag) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || !std::isfinite(v)) throw UsageError(flag + ": '" + s + "' is not a finite number");
  return v;
}

std::vector<double> parse_list(const std::string& s, const std::string& flag) {
  std::vector<double> v;
  if (s.empty()) return v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) v.push_back(parse_number(item, flag));
  return v;
}

std::pair<std::string, std::string> parse_name_value(const std::string& s, const std::string& flag) {
  const size_t e = s.find('=');
  if (e == std::string::npos || e == 0 || e + 1 == s.size()) throw UsageError(flag + ": expected name=value, got '" + s + "'");
  return {s.substr(0, e), s.substr(e + 1)};
}

}  // namespace paramkit::cli
