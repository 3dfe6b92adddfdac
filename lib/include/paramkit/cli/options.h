// Option groups shared by several tools, registered once here and reused by name, so that one option
// has one name, one meaning and one check in every tool; and the parsers for list, size and
// name=value flags.
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "paramkit/core/resumable.h"
#include "paramkit/io/dtype.h"

namespace paramkit::cli {

// -o/--output FILE (old spelling --out: Tool::alias("--out", "--output")).
CLI::Option* add_output(CLI::App& app, std::string& path, const std::string& help, bool required = true);
// Any other output file flag (--csv, --plot, ...; --checkpoint and --log-jsonl join the group too).
// Outputs are listed under "Outputs" in --help, and the Tool checks before any work that each one's
// folder can be written (exit 2 naming the flag).
CLI::Option* add_output_file(CLI::App& app, const std::string& flag, std::string& path, const std::string& help);

// --json / --table: how a command prints its result on stdout.
struct PrintOptions {
  bool json = false, table = false;
};
void add_print(CLI::App& app, PrintOptions& o, bool with_table = true, bool with_json = true);

// --checkpoint, --checkpoint-every, --resume, --stop-after; `unit` names the work unit in help texts
// ("steps", "episodes"). Defaults are the struct's (a tool may preset `every`).
void add_checkpointing(CLI::App& app, CheckpointOptions& o, const std::string& unit);

// --dtype NAME among `allowed` (floating dtypes); empty allowed: every floating dtype.
void add_dtype(CLI::App& app, std::optional<DType>& dtype, const std::string& help, std::vector<DType> allowed = {});

// --shard-size SIZE (e.g. 2GB, 500MB) for Hugging Face folder outputs (old spelling --out-shard-size).
void add_shard_size(CLI::App& app, uint64_t& bytes);

// "30,90,180" -> finite numbers; UsageError naming the flag.
std::vector<double> parse_list(const std::string& text, const std::string& flag);
// "name=value" -> {name, value}; UsageError naming the flag.
std::pair<std::string, std::string> parse_name_value(const std::string& text, const std::string& flag);
// A finite number; UsageError naming the flag.
// Marks an option whose value may be "inf" (PFGM++'s D = inf), which the check that every numeric flag
// is finite then skips; the command parses and validates the value itself.
inline constexpr const char* kInfinityTypeName = "NUMBER|inf";
inline CLI::Option* allow_infinity(CLI::Option* o) { return o->type_name(kInfinityTypeName); }
double parse_number(const std::string& text, const std::string& flag);

}  // namespace paramkit::cli
