// State dicts of torch modules to/from safetensors, HF folders and HDF5; named errors; training
// checkpoints resume to exactly the parameters of an uninterrupted run.
#include <doctest/doctest.h>

#include <torch/torch.h>

#include "helpers.h"
#include "paramkit/core/error.h"
#include "paramkit/torch/checkpoint.h"
#include "paramkit/torch/state_dict.h"
#include "paramkit/nn/models.h"
#include "paramkit/nn/train.h"

using namespace paramkit;
namespace fs = std::filesystem;

namespace {
bool same_params(torch::nn::Module& a, torch::nn::Module& b) {
  auto sa = named_state(a), sb = named_state(b);
  if (sa.size() != sb.size()) return false;
  for (size_t i = 0; i < sa.size(); ++i)
    if (sa[i].first != sb[i].first || !torch::equal(sa[i].second, sb[i].second)) return false;
  return true;
}
}  // namespace

TEST_CASE("state dict round trip through every format, by register_module names") {
  auto dir = paramkit::test::scratch("sd");
  torch::manual_seed(0);
  nn::ResNet20 a(3, 10, 4, 1);
  std::vector<std::string> names;
  for (auto& [n, t] : named_state(*a)) names.push_back(n);
  CHECK(std::find(names.begin(), names.end(), "stages.0.conv1.weight") != names.end());
  CHECK(std::find(names.begin(), names.end(), "bn.running_mean") != names.end());  // buffers too
  for (const char* out : {"m.safetensors", "m.h5", "m-folder"}) {
#ifndef PARAMKIT_HAVE_HDF5
    if (std::string(out) == "m.h5") continue;
#endif
    SaveOptions o;
    o.write.shard_size = 4000;  // several shards for the folder
    save_state_dict(*a, dir / out, {{"k", "v"}}, o);
    torch::manual_seed(1);
    nn::ResNet20 b(3, 10, 4, 1);
    CHECK_FALSE(same_params(*a, *b));
    load_state_dict(*b, dir / out);
    CHECK(same_params(*a, *b));
  }
  CHECK(fs::exists(dir / "m-folder" / "model.safetensors.index.json"));
}

TEST_CASE("state dict errors name every missing, unexpected and mis-shaped tensor") {
  auto dir = paramkit::test::scratch("sd-errors");
  nn::MlpOptions o1;
  o1.in = 4;
  o1.hidden = {8};
  o1.out = 2;
  nn::Mlp small(o1);
  save_state_dict(*small, dir / "small.safetensors", {});
  nn::MlpOptions o2 = o1;
  o2.hidden = {8, 8};
  o2.out = 3;
  nn::Mlp big(o2);
  try {
    load_state_dict(*big, dir / "small.safetensors");
    FAIL("mismatch accepted");
  } catch (const InputError& e) {
    std::string m = e.what();
    CHECK(m.find("small.safetensors") != std::string::npos);
    CHECK(m.find("missing tensors: layers.2.bias, layers.2.weight") != std::string::npos);
    CHECK(m.find("layers.1.weight (file [2, 8], model [8, 8])") != std::string::npos);
  }
  nn::MlpOptions o3 = o1;
  o3.hidden = {};
  nn::Mlp tiny(o3);
  CHECK_THROWS_WITH_AS(load_state_dict(*tiny, dir / "small.safetensors"), doctest::Contains("unexpected tensors: layers.1.bias, layers.1.weight"), InputError);
}

TEST_CASE("save with a dtype cast, read BF16 back as F32") {
  auto dir = paramkit::test::scratch("sd-cast");
  torch::Tensor w = torch::randn({5, 7});
  SaveOptions o;
  o.dtype = DType::BF16;
  save_tensors(dir / "w.safetensors", {{"w", w}, {"ids", torch::arange(3)}}, {}, o);
  auto r = open_tensors(dir / "w.safetensors");
  CHECK(r->info("w").dtype == DType::BF16);
  CHECK(r->info("ids").dtype == DType::I64);  // integers are never cast
  torch::Tensor back = read_tensor(*r, "w", DType::F32);
  CHECK(torch::equal(back, w.to(torch::kBFloat16).to(torch::kFloat)));
}

TEST_CASE("checkpoint: stopping and resuming gives exactly the uninterrupted parameters") {
  auto dir = paramkit::test::scratch("ckpt");
  torch::manual_seed(3);
  Dataset data{torch::randn({96, 1, 8, 8}), torch::randint(0, 4, {96})};
  auto make = [] {
    torch::manual_seed(11);
    nn::MlpOptions o;
    o.in = 64;
    o.hidden = {16};
    o.out = 4;
    return nn::Mlp(o);
  };
  nn::TrainOptions t;
  t.epochs = 3;
  t.batch_size = 10;
  t.log_every = 0;
  t.optimizer.name = "adamw";
  t.optimizer.weight_decay = 0.01;
  t.schedule.kind = "cosine";
  t.schedule.warmup = 3;

  nn::Mlp straight = make();
  auto fwd1 = [&](torch::Tensor x) { return straight->forward(x); };
  nn::train_classifier(*straight, fwd1, data, t, 7);

  // The same job stopped after 13 steps, then resumed from its checkpoint in a fresh model/optimizer.
  nn::TrainOptions first = t;
  first.checkpoint.stop_after = 13;
  first.checkpoint.path = dir / "ck.safetensors";
  first.checkpoint.every = 5;
  nn::Mlp part = make();
  auto fwd2 = [&](torch::Tensor x) { return part->forward(x); };
  nn::train_classifier(*part, fwd2, data, first, 7);
  torch::manual_seed(999);  // disturb the global generator: the checkpoint must restore it
  nn::TrainOptions second = t;
  second.checkpoint.path = first.checkpoint.path;
  second.checkpoint.resume = true;
  nn::Mlp resumed = make();
  auto fwd3 = [&](torch::Tensor x) { return resumed->forward(x); };
  nn::TrainResult r = nn::train_classifier(*resumed, fwd3, data, second, 7);
  CHECK(r.resumed);
  CHECK(r.resumed_from_step == 13);
  CHECK(r.steps == 30);
  CHECK(same_params(*straight, *resumed));
}

TEST_CASE("checkpoint: a file that is not a checkpoint is an InputError") {
  auto dir = paramkit::test::scratch("ckpt-bad");
  nn::Mlp m(nn::MlpOptions{});
  save_state_dict(*m, dir / "plain.safetensors", {});
  auto opt = nn::make_optimizer(nn::OptimizerOptions{}, m->parameters());
  CHECK_THROWS_WITH_AS(load_checkpoint(dir / "plain.safetensors", *m, *opt, nullptr),
                       doctest::Contains("not a paramkit training checkpoint"), InputError);
}

TEST_CASE("zero-copy views of mapped tensors: same values, copy-on-write, keep the file alive") {
  auto dir = paramkit::test::scratch("view");
  torch::Tensor w = torch::randn({64, 33});
  save_tensors(dir / "w.safetensors", {{"w", w}, {"b", torch::arange(5)}}, {});
  std::string before = paramkit::test::slurp(dir / "w.safetensors");
  std::shared_ptr<const TensorReader> reader = open_tensors(dir / "w.safetensors");
  torch::Tensor v = view_tensor(reader, "w");
  CHECK(v.data_ptr() == static_cast<const void*>(reader->mapped(reader->info("w"))));  // no copy
  CHECK(torch::equal(v, w));
  reader.reset();  // the view holds the mapping
  CHECK(torch::equal(v, w));
  v.mul_(2);  // private pages: the file is untouched
  CHECK(torch::equal(v, w * 2));
  CHECK(paramkit::test::slurp(dir / "w.safetensors") == before);
#ifdef PARAMKIT_HAVE_HDF5
  save_tensors(dir / "w.h5", {{"w", w}}, {});
  std::shared_ptr<const TensorReader> h5 = open_tensors(dir / "w.h5");
  CHECK(h5->mapped(h5->info("w")) == nullptr);
  CHECK(torch::equal(view_tensor(h5, "w"), w));  // falls back to a copy
#endif
}
