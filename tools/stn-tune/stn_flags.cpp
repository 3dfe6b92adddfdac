// The flags tune, retrain and search share: data, model, hyperparameters.
#include <fmt/format.h>

#include <cmath>

#include "commands.h"
#include "paramkit/core/error.h"
#include "paramkit/io/json.h"

using namespace paramkit;

void add_stn_flags(CLI::App& app, StnFlags& f, bool hyper_values_only) {
  cli::add_image_data(app, f.data);
  app.add_option("--valid-fraction", f.valid_fraction, "Fraction of the training set (its last rows) held out for validation")
      ->capture_default_str()
      ->check(CLI::Range(1e-4, 0.9));
  app.add_option("--model", f.model, "mlp (--hidden, dropout.in and dropout.1..N after each hidden layer) or cnn (LeNet-5 sized: dropout.in, "
                                     "channel dropout.1-2 after the convolutions, dropout.3-4 after the hidden linear layers)")
      ->capture_default_str()
      ->check(CLI::IsMember({"mlp", "cnn"}));
  app.add_option("--hidden", f.hidden, "mlp: hidden widths (default 256,256)")->delimiter(',')->check(CLI::Range(int64_t{1}, int64_t{65536}));
  app.add_option("--hyper", f.hyper,
                 hyper_values_only ? "A hyperparameter at a fixed value: name=value (repeatable)"
                                   : "A hyperparameter to tune: name, name=init or name=init:lo:hi (repeatable). Names: dropout.in, "
                                     "dropout.1..N, l2, aug.shift, aug.cutout_length, aug.cutout_holes, aug.brightness, aug.contrast")
      ->take_all();
  if (!hyper_values_only)
    app.add_option("--hypers", f.hypers_file, "Hyperparameter declarations (JSON list of {name, kind, transform, range, init})")->check(CLI::ExistingFile);
}

StnData load_stn(const StnFlags& f, uint64_t seed, bool need_hypers) {
  StnData d;
  d.spec.model = f.model;
  if (!f.hidden.empty()) {
    if (f.model != "mlp") throw UsageError("--hidden is for --model mlp");
    d.spec.hidden = f.hidden;
  }
  const auto cat = hpo::catalogue(d.spec.hidden_layers(), true);
  if (!f.hypers_file.empty()) {
    if (!f.hyper.empty()) throw UsageError("--hyper and --hypers: give one of them");
    d.spec.hypers = hpo::parse_declarations(read_json(f.hypers_file), cat, f.hypers_file);
  }
  for (const auto& h : f.hyper) d.spec.hypers.push_back(hpo::parse_declaration(h, cat));
  if (need_hypers && d.spec.hypers.empty()) throw UsageError("no hyperparameters: give --hyper (e.g. --hyper dropout.1=0.05) or --hypers FILE");
  cli::TrainTest tt = cli::load_image_data(f.data, seed);
  const auto& x = tt.train.x;
  if (x.dim() < 3 || x.dim() > 4 || x.size(-1) != x.size(-2))
    throw InputError(f.data.train_images, "dimensions", "expected square images [N, H, W] or [N, C, H, W]");
  d.spec.image_size = x.size(-1);
  d.spec.channels = x.dim() == 4 ? x.size(1) : 1;
  d.spec.classes = std::max<int64_t>(10, tt.train.y.max().item<int64_t>() + 1);
  d.spec.validate();
  const int64_t n = tt.train.size(), nv = static_cast<int64_t>(std::llround(f.valid_fraction * static_cast<double>(n)));
  if (nv < 1 || n - nv < 1)
    throw UsageError(fmt::format("--valid-fraction {} of {} training examples leaves no training or no validation rows", f.valid_fraction, n));
  d.train = {tt.train.x.slice(0, 0, n - nv), tt.train.y.slice(0, 0, n - nv)};
  d.val = {tt.train.x.slice(0, n - nv, n), tt.train.y.slice(0, n - nv, n)};
  d.test = tt.test;
  return d;
}
