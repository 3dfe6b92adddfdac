// ckpt-tool: inspect, convert and compare checkpoints (safetensors, HF folders, paramkit HDF5).
#include <cstdio>
#include <iostream>

#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/run.h"
#include "paramkit/io/ckpt_ops.h"

using namespace paramkit;

int main(int argc, char** argv) {
  Tool tool("ckpt-tool", "Inspect, convert and compare model checkpoints (safetensors, Hugging Face folders, HDF5).",
            "ckpt-tool convert examples/out/smoke/model.safetensors /tmp/model.h5 && ckpt-tool info /tmp/model.h5");
  CLI::App& app = tool.app();
  app.require_subcommand(1);

  std::string info_path;
  bool info_json = false;
  auto* info = app.add_subcommand("info", "List tensors (dtype, shape, bytes), metadata and provenance");
  info->add_option("path", info_path, "safetensors file, HF folder or .h5 file")->required();
  info->add_flag("--json", info_json, "Print JSON instead of a table");

  std::string in, out, dtype_name_s, shard_size, format_s;
  int compress = 0;
  auto* convert = app.add_subcommand("convert", "Convert between safetensors, HF sharded folders and HDF5");
  convert->add_option("in", in, "Input checkpoint")->required();
  convert->add_option("out", out, "Output: *.safetensors, *.h5, or a folder (HF layout)")->required();
  convert->add_option("--dtype", dtype_name_s, "Cast floating tensors to F32, F16, BF16, F64, F8_E4M3 or F8_E5M2");
  convert->add_option("--shard-size", shard_size, "Max bytes per shard for folder outputs (e.g. 2GB, 500MB; default 5GB)");
  convert->add_option("--compress", compress, "HDF5 gzip level 0-9")->check(CLI::Range(0, 9));
  convert->add_option("--format", format_s, "Force the output format: safetensors, sharded or hdf5")
      ->check(CLI::IsMember({"safetensors", "sharded", "hdf5"}));

  std::string a_path, b_path;
  double atol = 0, rtol = 0;
  bool diff_json = false, ignore_dtype = false, bitwise = false;
  auto* diff = app.add_subcommand("diff", "Per-tensor max abs/rel differences; exit 1 when beyond --atol/--rtol");
  diff->add_option("a", a_path, "First checkpoint")->required();
  diff->add_option("b", b_path, "Second checkpoint (the reference for --rtol)")->required();
  diff->add_option("--atol", atol, "Absolute tolerance")->capture_default_str()->check(CLI::NonNegativeNumber);
  diff->add_option("--rtol", rtol, "Relative tolerance")->capture_default_str()->check(CLI::NonNegativeNumber);
  diff->add_flag("--json", diff_json, "Print JSON instead of a table");
  diff->add_flag("--ignore-dtype", ignore_dtype, "Compare values of tensors whose dtypes differ");
  diff->add_flag("--bitwise", bitwise, "Compare stored bytes (byte-for-byte equality of every tensor)");

  return tool.run(argc, argv, [&](RunContext& ctx) -> int {
    if (*info) {
      auto reader = open_tensors(info_path);
      nlohmann::json d = describe_store(*reader);
      std::cout << (info_json ? d.dump(2) + "\n" : format_description(d));
      ctx.results = {{"tensor_count", d["tensor_count"]}, {"total_bytes", d["total_bytes"]}, {"parameters", d["parameters"]}};
      return 0;
    }
    if (*convert) {
      ConvertOptions o;
      if (!dtype_name_s.empty()) {
        auto d = parse_dtype(dtype_name_s);
        if (!d || !dtype_is_float(*d)) throw UsageError("--dtype: expected a float dtype (F32, F16, BF16, F64, F8_E4M3, F8_E5M2), got '" + dtype_name_s + "'");
        o.dtype = d;
      }
      if (!shard_size.empty()) o.write.shard_size = parse_size(shard_size, "--shard-size");
      o.write.compression = compress;
      if (format_s == "safetensors") o.format = StoreFormat::safetensors;
      else if (format_s == "sharded") o.format = StoreFormat::sharded;
      else if (format_s == "hdf5") o.format = StoreFormat::hdf5;
      if (compress > 0 && o.format.value_or(format_for_path(out)) != StoreFormat::hdf5)
        throw UsageError("--compress applies to HDF5 outputs only");
      ctx.results = convert_store(in, out, o);
      log::info("wrote {} ({} tensors)", out, ctx.results["tensors"].get<size_t>());
      return 0;
    }
    auto ra = open_tensors(a_path);
    auto rb = open_tensors(b_path);
    if (bitwise && ignore_dtype) throw UsageError("--bitwise and --ignore-dtype exclude each other");
    DiffReport rep = diff_stores(*ra, *rb, atol, rtol, !ignore_dtype, bitwise);
    if (diff_json) {
      std::cout << rep.to_json().dump(2) << "\n";
    } else {
      size_t w = 4;
      for (const auto& t : rep.tensors) w = std::max(w, t.name.size());
      std::cout << fmt::format("{:<{}}  {:<8} {:>12} {:>12} {:>10}\n", "name", w, "status", "max_abs", "max_rel", "beyond");
      for (const auto& t : rep.tensors)
        std::cout << fmt::format("{:<{}}  {:<8} {:>12.4g} {:>12.4g} {:>10}\n", t.name, w, t.status, t.max_abs, t.max_rel, t.mismatched);
    }
    ctx.results = rep.to_json();
    if (!rep.equal) log::info("checkpoints differ beyond atol={} rtol={}", atol, rtol);
    return rep.equal ? 0 : 1;
  });
}
