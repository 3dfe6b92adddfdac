// ckpt-tool convert: between safetensors, Hugging Face sharded folders and HDF5, with dtype casts.
#include "commands.h"
#include "paramkit/cli/options.h"
#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/io/ckpt_ops.h"

using namespace paramkit;

namespace {
struct ConvertCommand : cli::TypedCommand<ConvertResult> {
  ConvertCommand()
      : TypedCommand("convert", "Convert between safetensors, HF sharded folders and HDF5",
                     "ckpt-tool convert tests/data/tiny-model.safetensors /tmp/tiny.h5 && ckpt-tool info /tmp/tiny.h5") {}
  void add_options(CLI::App& app) override {
    app.add_option("in", in, "Input checkpoint")->required();
    app.add_option("out", out, "Output: *.safetensors, *.h5, or a folder (HF layout); missing parent folders are created")
        ->required()
        ->group("Outputs");
    cli::add_dtype(app, options.dtype, "Cast floating tensors to F32, F16, BF16, F64, F8_E4M3 or F8_E5M2");
    cli::add_shard_size(app, options.write.shard_size);
    app.add_option("--compress", options.write.compression, "HDF5 gzip level 0-9")->check(CLI::Range(0, 9));
    app.add_option("--format", format, "Force the output format: safetensors, sharded or hdf5")
        ->check(CLI::IsMember({"safetensors", "sharded", "hdf5"}));
  }
  ConvertResult run(cli::Context&) override {
    if (format == "safetensors") options.format = StoreFormat::safetensors;
    else if (format == "sharded") options.format = StoreFormat::sharded;
    else if (format == "hdf5") options.format = StoreFormat::hdf5;
    if (options.write.compression > 0 && options.format.value_or(format_for_path(out)) != StoreFormat::hdf5)
      throw UsageError("--compress applies to HDF5 outputs only");
    ConvertResult r = convert_store(in, out, options);
    log::info("wrote {} ({} tensors)", out, r.tensors);
    return r;
  }
  std::string in, out, format;
  ConvertOptions options;
};
}  // namespace

void add_convert(cli::Tool& tool) { tool.add<ConvertCommand>(); }
