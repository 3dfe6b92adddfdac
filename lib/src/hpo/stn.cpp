// STN image classifiers, per-example augmentation, the alternating tuning loop and fixed training.
#include "paramkit/hpo/stn.h"

#include <fmt/format.h>

#include <cmath>

#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/progress.h"
#include "paramkit/core/signals.h"
#include "paramkit/nn/optim.h"
#include "paramkit/torch/checkpoint.h"

namespace paramkit::hpo {

namespace F = torch::nn::functional;

int64_t StnSpec::hidden_layers() const { return model == "cnn" ? 4 : static_cast<int64_t>(hidden.size()); }

void StnSpec::validate() const {
  if (model != "mlp" && model != "cnn") throw UsageError(fmt::format("model '{}': expected mlp or cnn", model));
  if (model == "mlp") {
    if (hidden.empty() || hidden.size() > 16) throw UsageError("mlp: 1 to 16 hidden layers");
    for (int64_t w : hidden)
      if (w < 1 || w > (1 << 16)) throw UsageError(fmt::format("mlp: hidden width {} is outside [1, 65536]", w));
  }
  if (model == "cnn" && (image_size < 16 || image_size > 64)) throw UsageError(fmt::format("cnn: images of side {} (16 to 64 supported)", image_size));
  if (image_size < 1 || image_size > 4096 || channels < 1 || channels > 64 || classes < 2) throw UsageError("bad image or class counts");
  const auto cat = catalogue(hidden_layers(), true);
  std::vector<std::string> seen;
  for (const auto& p : hypers) {
    bool known = false;
    for (const auto& c : cat) known = known || c.name == p.name;
    if (!known) parse_declaration(p.name, cat);  // throws naming the known ones
    if (std::find(seen.begin(), seen.end(), p.name) != seen.end()) throw UsageError(fmt::format("hyperparameter '{}' is declared twice", p.name));
    seen.push_back(p.name);
    p.validate();
  }
}

nlohmann::json to_json(const StnSpec& s) {
  nlohmann::json h = nlohmann::json::array();
  for (const auto& p : s.hypers) h.push_back(to_json(p));
  return {{"model", s.model}, {"hidden", s.hidden}, {"image_size", s.image_size}, {"channels", s.channels}, {"classes", s.classes}, {"hypers", h}};
}

StnSpec stn_spec_from_json(const nlohmann::json& j, const std::string& source) {
  StnSpec s;
  try {
    s.model = j.at("model").get<std::string>();
    s.hidden = j.at("hidden").get<std::vector<int64_t>>();
    s.image_size = j.at("image_size").get<int64_t>();
    s.channels = j.at("channels").get<int64_t>();
    s.classes = j.at("classes").get<int64_t>();
  } catch (const nlohmann::json::exception&) {
    throw InputError(source, "spec", "expected model, hidden, image_size, channels, classes and hypers");
  }
  if (!j.contains("hypers") || !j["hypers"].is_array()) throw InputError(source, "spec.hypers", "expected a list");
  if (!j["hypers"].empty()) s.hypers = parse_declarations(j["hypers"], catalogue(s.hidden_layers(), true), source + ": spec.hypers");
  try {
    s.validate();
  } catch (const UsageError& e) {
    throw InputError(source, "spec", e.what());
  }
  return s;
}

torch::Tensor hyper_values(const std::vector<HyperParam>& hypers, const torch::Tensor& u) {
  std::vector<torch::Tensor> cols;
  for (size_t i = 0; i < hypers.size(); ++i) {
    const HyperParam& p = hypers[i];
    const double top = p.kind == Kind::discrete ? p.hi + 1 : p.hi;
    const torch::Tensor s = torch::sigmoid(u.select(1, static_cast<int64_t>(i)));
    torch::Tensor v = p.transform == Transform::log_sigmoid ? torch::exp(std::log(p.lo) + (std::log(top) - std::log(p.lo)) * s) : p.lo + (top - p.lo) * s;
    if (p.kind == Kind::discrete) v = torch::floor(v);
    cols.push_back(v.clamp(p.lo, p.hi));
  }
  return cols.empty() ? torch::zeros({u.size(0), 0}, u.options()) : torch::stack(cols, 1);
}

namespace {
int64_t column(const std::vector<HyperParam>& hypers, const std::string& name) {
  for (size_t i = 0; i < hypers.size(); ++i)
    if (hypers[i].name == name) return static_cast<int64_t>(i);
  return -1;
}
}  // namespace

StnNetImpl::StnNetImpl(const StnSpec& spec) : spec_(spec) {
  spec_.validate();
  const int64_t H = static_cast<int64_t>(spec.hypers.size());
  if (spec.model == "mlp") {
    int64_t in = spec.channels * spec.image_size * spec.image_size;
    for (size_t i = 0; i <= spec.hidden.size(); ++i) {
      const int64_t out = i < spec.hidden.size() ? spec.hidden[i] : spec.classes;
      fc_.push_back(register_module(fmt::format("fc{}", i), nn::StnLinear(in, out, H)));
      in = out;
    }
  } else {
    conv_.push_back(register_module("conv0", nn::StnConv2d(spec.channels, 6, 5, 2, H)));
    conv_.push_back(register_module("conv1", nn::StnConv2d(6, 16, 5, 0, H)));
    const int64_t side = ((spec.image_size / 2) - 4) / 2;
    fc_.push_back(register_module("fc0", nn::StnLinear(16 * side * side, 120, H)));
    fc_.push_back(register_module("fc1", nn::StnLinear(120, 84, H)));
    fc_.push_back(register_module("fc2", nn::StnLinear(84, spec.classes, H)));
  }
}

torch::Tensor StnNetImpl::drop(const torch::Tensor& x, const torch::Tensor& values, const std::string& name, bool channel) const {
  const int64_t c = column(spec_.hypers, name);
  if (c < 0 || !values.defined() || !is_training()) return x;
  const torch::Tensor p = values.select(1, c);
  return channel ? nn::channel_dropout_per_example(x, p) : nn::dropout_per_example(x, p);
}

torch::Tensor StnNetImpl::forward(const torch::Tensor& images, const torch::Tensor& h, const torch::Tensor& values) {
  torch::Tensor x = images.dim() == 3 ? images.unsqueeze(1) : images;
  x = drop(x, values, "dropout.in", false);
  if (spec_.model == "mlp") {
    x = x.flatten(1);
    for (size_t i = 0; i < fc_.size(); ++i) {
      x = fc_[i]->forward(x, h);
      if (i + 1 < fc_.size()) x = drop(torch::relu(x), values, fmt::format("dropout.{}", i + 1), false);
    }
    return x;
  }
  x = drop(F::max_pool2d(torch::relu(conv_[0]->forward(x, h)), F::MaxPool2dFuncOptions(2)), values, "dropout.1", true);
  x = drop(F::max_pool2d(torch::relu(conv_[1]->forward(x, h)), F::MaxPool2dFuncOptions(2)), values, "dropout.2", true);
  x = x.flatten(1);
  x = drop(torch::relu(fc_[0]->forward(x, h)), values, "dropout.3", false);
  x = drop(torch::relu(fc_[1]->forward(x, h)), values, "dropout.4", false);
  return fc_[2]->forward(x, h);
}

torch::Tensor StnNetImpl::l2_term() const {
  torch::Tensor s = torch::zeros({}, fc_.front()->weight.options());
  for (const auto& f : fc_) s = s + f->weight.square().sum();
  for (const auto& c : conv_) s = s + c->weight.square().sum();
  return s;
}

torch::Tensor augment(const torch::Tensor& images, const torch::Tensor& values, const std::vector<HyperParam>& hypers) {
  torch::Tensor x = images.dim() == 3 ? images.unsqueeze(1) : images;
  const int64_t B = x.size(0), side = x.size(-1), rows = x.size(-2);
  const int64_t cs = column(hypers, "aug.shift"), cl = column(hypers, "aug.cutout_length"), ch = column(hypers, "aug.cutout_holes"),
                cb = column(hypers, "aug.brightness"), cc = column(hypers, "aug.contrast");
  const torch::Tensor v = values.detach().to(torch::kCPU, torch::kDouble);
  if (cs >= 0) {
    const torch::Tensor s = v.select(1, cs);
    const int64_t pad = static_cast<int64_t>(std::ceil(s.max().item<double>() * static_cast<double>(side)));
    if (pad > 0) {
      const torch::Tensor padded = F::pad(x, F::PadFuncOptions({pad, pad, pad, pad}));
      const torch::Tensor r = torch::rand({B, 2}, torch::kDouble);
      std::vector<torch::Tensor> out;
      for (int64_t b = 0; b < B; ++b) {
        const int64_t m = static_cast<int64_t>(std::round(s[b].item<double>() * static_cast<double>(side)));
        const int64_t dy = static_cast<int64_t>(std::floor(r[b][0].item<double>() * static_cast<double>(2 * m + 1))) - m;
        const int64_t dx = static_cast<int64_t>(std::floor(r[b][1].item<double>() * static_cast<double>(2 * m + 1))) - m;
        out.push_back(padded[b].narrow(-2, pad + dy, rows).narrow(-1, pad + dx, side));
      }
      x = torch::stack(out, 0);
    }
  }
  if (cl >= 0 && ch >= 0) {
    torch::Tensor mask = torch::ones({B, 1, rows, side});
    auto m = mask.accessor<float, 4>();
    const torch::Tensor centres = torch::rand({B, 8, 2}, torch::kDouble);  // up to 8 holes
    for (int64_t b = 0; b < B; ++b) {
      const int64_t len = static_cast<int64_t>(v[b][cl].item<double>()), holes = std::min<int64_t>(8, static_cast<int64_t>(v[b][ch].item<double>()));
      if (len <= 0) continue;
      for (int64_t k = 0; k < holes; ++k) {
        const int64_t cy = static_cast<int64_t>(centres[b][k][0].item<double>() * static_cast<double>(rows));
        const int64_t cx = static_cast<int64_t>(centres[b][k][1].item<double>() * static_cast<double>(side));
        for (int64_t y = std::max<int64_t>(0, cy - len / 2); y < std::min(rows, cy - len / 2 + len); ++y)
          for (int64_t xx = std::max<int64_t>(0, cx - len / 2); xx < std::min(side, cx - len / 2 + len); ++xx) m[b][0][y][xx] = 0;
      }
    }
    x = x * mask.to(x.device(), x.scalar_type());
  }
  if (cb >= 0) {
    const torch::Tensor b = (torch::rand({B}, torch::kDouble) * 2 - 1) * v.select(1, cb);
    x = x + b.to(x.device(), x.scalar_type()).view({B, 1, 1, 1});
  }
  if (cc >= 0) {
    const torch::Tensor f = torch::exp((torch::rand({B}, torch::kDouble) * 2 - 1) * v.select(1, cc)).to(x.device(), x.scalar_type()).view({B, 1, 1, 1});
    const torch::Tensor mean = x.mean({1, 2, 3}, true);
    x = mean + (x - mean) * f;
  }
  return x;
}

void TuneOptions::validate() const {
  checkpoint.validate();
  if (epochs < 1 || epochs > 100000) throw UsageError(fmt::format("--epochs {} is outside [1, 100000]", epochs));
  if (warmup_epochs < 0 || warmup_epochs > epochs) throw UsageError(fmt::format("--warmup-epochs {} is outside [0, --epochs = {}]", warmup_epochs, epochs));
  if (t_train < 1 || t_val < 1 || t_train > 10000 || t_val > 10000) throw UsageError("--t-train and --t-val must be in [1, 10000]");
  if (batch_size < 1) throw UsageError("--batch-size must be positive");
  if (record_every < 1) throw UsageError("--record-every must be positive");
}

nlohmann::json to_json(const TrajectoryRow& r) {
  return {{"unit", r.unit}, {"weight_steps", r.weight_steps}, {"hyper_steps", r.hyper_steps}, {"values", r.values}, {"sigmas", r.sigmas}};
}
nlohmann::json to_json(const EpochRecord& r) {
  return {{"epoch", r.epoch}, {"val_loss", r.val_loss}, {"val_accuracy", r.val_accuracy}, {"units", r.units}, {"values", r.values}};
}

nn::EvalResult evaluate_stn(StnNetImpl& net, const Dataset& data, const torch::Tensor& h, int64_t batch_size) {
  const c10::Device dev = net.parameters().front().device();
  const nn::Forward forward = [&](const torch::Tensor& x) {
    const torch::Tensor hb = h.defined() ? h.detach().unsqueeze(0).expand({x.size(0), h.size(0)}) : torch::Tensor();
    return net.forward(x, hb);
  };
  return nn::evaluate(net, forward, data, batch_size, dev);
}

namespace {
// The weight step's loss with values driving dropout, augmentation and L2.
torch::Tensor weight_loss(StnNetImpl& net, const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& h, const torch::Tensor& values) {
  const auto& hypers = net.spec().hypers;
  const torch::Tensor xa = augment(x, values, hypers);
  torch::Tensor loss = F::cross_entropy(net.forward(xa, h, values), y);
  const int64_t c = column(hypers, "l2");
  if (c >= 0) loss = loss + values.select(1, c).mean() * net.l2_term();
  return loss;
}
struct Holder : torch::nn::Module {
  Holder(StnNetImpl& net, nn::HyperState& hyper) {
    for (auto& p : net.named_parameters()) register_parameter(nn::checkpoint_name("net." + p.key()), p.value());
    register_parameter("hyper__h", hyper.h);
    register_parameter("hyper__sigma_raw", hyper.sigma_raw);
  }
};
}  // namespace

TuneResult tune_stn(StnNetImpl& net, nn::HyperState& hs, const Dataset& train, const Dataset& val, const TuneOptions& o, uint64_t seed) {
  o.validate();
  if (train.size() == 0 || val.size() == 0) throw InputError("data", "", "tuning needs training and validation examples");
  const auto& hypers = net.spec().hypers;
  if (hypers.empty()) throw UsageError("tuning needs at least one hyperparameter (--hyper)");
  const c10::Device dev = net.parameters().front().device();  // the network's and h's (the caller moves both)
  BatchIterator tb(train.size(), o.batch_size, true, seed), vb(val.size(), o.batch_size, true, seed + 0x9e37);
  const int64_t per_epoch = tb.batches_per_epoch(), val_per_epoch = vb.batches_per_epoch();
  const int64_t weight_total = o.epochs * per_epoch, warm = o.warmup_epochs * per_epoch, cycle = o.t_train + o.t_val;
  const int64_t rest = weight_total - warm;
  const int64_t total = warm + (rest / o.t_train) * cycle + rest % o.t_train;
  // Unit -> (hyper step?, weight steps before it, hyper steps before it).
  auto locate = [&](int64_t u, bool& hyper, int64_t& w, int64_t& v) {
    if (u < warm) {
      hyper = false, w = u, v = 0;
      return;
    }
    const int64_t c = (u - warm) / cycle, r = (u - warm) % cycle;
    hyper = r >= o.t_train;
    w = warm + c * o.t_train + std::min(r, o.t_train);
    v = c * o.t_val + std::max<int64_t>(0, r - o.t_train);
  };
  nn::OptimizerOptions wo;
  wo.name = "sgd";
  wo.lr = o.lr;
  wo.momentum = o.momentum;
  auto wopt = nn::make_optimizer(wo, net.parameters());
  std::vector<torch::Tensor> hp = {hs.h};
  if (o.tune_scales) hp.push_back(hs.sigma_raw);
  torch::optim::Adam hopt(hp, torch::optim::AdamOptions(o.hyper_lr));
  Holder holder(net, hs);
  const NamedOptimizers opts = {{"weights", wopt.get()}, {"hyper", &hopt}};
  TuneResult result;
  int64_t start = 0;
  auto record = [&](int64_t u) {
    torch::NoGradGuard g;
    bool hy;
    int64_t w, v;
    locate(u, hy, w, v);
    TrajectoryRow row{u, w, v};
    const torch::Tensor vals = hyper_values(hypers, hs.h.detach().unsqueeze(0))[0];
    const torch::Tensor sig = F::softplus(hs.sigma_raw.detach());
    for (int64_t i = 0; i < vals.size(0); ++i) {
      row.values.push_back(vals[i].item<double>());
      row.sigmas.push_back(sig[i].item<double>());
    }
    result.trajectory.push_back(row);
  };
  if (o.checkpoint.resuming()) {
    const CheckpointState st = load_checkpoint(o.checkpoint.path, holder, opts, nullptr);
    start = st.position.step;
    for (const auto& r : st.extra.at("trajectory"))
      result.trajectory.push_back({r.at("unit"), r.at("weight_steps"), r.at("hyper_steps"), r.at("values").get<std::vector<double>>(),
                                   r.at("sigmas").get<std::vector<double>>()});
    for (const auto& r : st.extra.at("epochs"))
      result.epochs.push_back({r.at("epoch"), r.at("val_loss"), r.at("val_accuracy"), r.at("units"), r.at("values").get<std::vector<double>>()});
    log::info("resumed from {} at unit {}", o.checkpoint.path.string(), start);
  } else {
    record(0);
  }
  net.train();
  Progress progress("tune", total);
  auto step = [&](int64_t u) {
    bool hyper;
    int64_t w, v;
    locate(u, hyper, w, v);
    wopt->zero_grad();
    hopt.zero_grad();
    double loss_value = 0;
    if (!hyper) {
      net.train();
      const auto rows = tb.batch(w / per_epoch, w % per_epoch);
      const torch::Tensor idx = torch::tensor(rows, torch::kInt64);
      const torch::Tensor x = train.x.index_select(0, idx).to(dev), y = train.y.index_select(0, idx).to(dev);
      const torch::Tensor h = hs.perturb(static_cast<int64_t>(rows.size())).detach();
      const torch::Tensor loss = weight_loss(net, x, y, h, hyper_values(hypers, h));
      loss.backward();
      wopt->step();
      loss_value = loss.item<double>();
      if ((w + 1) % per_epoch == 0) {  // a weight epoch ends: validation at the unperturbed h
        const nn::EvalResult e = evaluate_stn(net, val, hs.h.detach());
        EpochRecord rec{(w + 1) / per_epoch, e.loss, e.accuracy, static_cast<double>(u + 1)};
        const torch::Tensor vals = hyper_values(hypers, hs.h.detach().unsqueeze(0))[0];
        for (int64_t i = 0; i < vals.size(0); ++i) rec.values.push_back(vals[i].item<double>());
        result.epochs.push_back(rec);
        log::info("epoch {}: validation accuracy {:.4f} loss {:.4f}", rec.epoch, e.accuracy, e.loss);
      }
    } else {
      net.eval();
      const auto rows = vb.batch(v / val_per_epoch, v % val_per_epoch);
      const torch::Tensor idx = torch::tensor(rows, torch::kInt64);
      const torch::Tensor x = val.x.index_select(0, idx).to(dev), y = val.y.index_select(0, idx).to(dev);
      const torch::Tensor h = o.tune_scales ? hs.perturb(static_cast<int64_t>(rows.size())) : hs.h.unsqueeze(0).expand({static_cast<int64_t>(rows.size()), -1});
      torch::Tensor loss = F::cross_entropy(net.forward(x, h), y);
      if (o.tune_scales) loss = loss - o.tau * hs.entropy();
      // Only d loss / d (h, sigma): autograd skips the network's weight gradients (about a third of a
      // backward pass).
      const std::vector<torch::Tensor> grads = torch::autograd::grad({loss}, hp);
      for (size_t i = 0; i < hp.size(); ++i) hp[i].mutable_grad() = grads[i].clone();
      hopt.step();
      loss_value = loss.item<double>();
      if ((v + 1) % o.record_every == 0) record(u + 1);
    }
    if (!std::isfinite(loss_value))
      throw Error(fmt::format("the {} loss is not finite at unit {} (learning rate too large, or bad inputs); the last checkpoint is kept",
                              hyper ? "hyperparameter" : "training", u + 1));
    progress.update(u + 1);
  };
  auto save = [&](int64_t next) {
    CheckpointState st;
    st.position.step = next;
    nlohmann::json traj = nlohmann::json::array(), ep = nlohmann::json::array();
    for (const auto& r : result.trajectory) traj.push_back(to_json(r));
    for (const auto& r : result.epochs) ep.push_back(to_json(r));
    st.extra = {{"trajectory", traj}, {"epochs", ep}};
    save_checkpoint(o.checkpoint.path, holder, opts, nullptr, st);
  };
  const LoopOutcome done = run_resumable(o.checkpoint, start, total, step, save);
  progress.finish();
  result.units = done.done;
  result.finished = done.finished;
  bool hy;
  locate(done.done, hy, result.weight_steps, result.hyper_steps);
  if (done.finished) {
    result.weight_steps = weight_total;
    if (result.trajectory.empty() || result.trajectory.back().unit != total) record(total);
  }
  result.epochs_spent = static_cast<double>(result.weight_steps + result.hyper_steps) / static_cast<double>(per_epoch);
  net.eval();
  return result;
}

nn::TrainResult train_fixed(StnNetImpl& net, const Dataset& train, const std::vector<std::vector<double>>& schedule,
                            const nn::TrainOptions& o, uint64_t seed) {
  o.validate();
  if (train.size() == 0) throw InputError("training data", "", "no examples to train on");
  const auto& hypers = net.spec().hypers;
  for (const auto& row : schedule)
    if (row.size() != hypers.size()) throw UsageError(fmt::format("a schedule row has {} values for {} hyperparameters", row.size(), hypers.size()));
  if (schedule.empty() && !hypers.empty()) throw UsageError("a schedule needs at least one row");
  net.train();
  const c10::Device dev = net.parameters().front().device();
  auto opt = nn::make_optimizer(o.optimizer, net.parameters());
  return nn::train_steps(net, *opt, train.size(), o, seed, "train", [&](const std::vector<int64_t>& rows, const TrainPosition& pos) {
    const torch::Tensor idx = torch::tensor(rows, torch::kInt64);
    const torch::Tensor x = train.x.index_select(0, idx).to(dev), y = train.y.index_select(0, idx).to(dev);
    const auto& row = schedule.empty() ? std::vector<double>{} : schedule[std::min<size_t>(static_cast<size_t>(pos.epoch), schedule.size() - 1)];
    torch::Tensor values = torch::tensor(std::vector<float>(row.begin(), row.end()), torch::kFloat32).to(dev);
    values = values.view({1, static_cast<int64_t>(row.size())}).expand({static_cast<int64_t>(rows.size()), -1});
    const torch::Tensor loss = weight_loss(net, x, y, {}, values);
    loss.backward();
    return loss.item<double>();
  });
}

}  // namespace paramkit::hpo
