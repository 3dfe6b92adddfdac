// Evaluation and the resumable training loop.
#include "paramkit/nn/train.h"

#include <cmath>
#include <optional>

#include "paramkit/core/error.h"
#include "paramkit/core/log.h"
#include "paramkit/core/progress.h"
#include "paramkit/core/resumable.h"
#include "paramkit/core/signals.h"
#include "paramkit/torch/checkpoint.h"
#include "paramkit/io/json.h"

namespace paramkit::nn {

EvalResult evaluate(torch::nn::Module& model, const Forward& forward, const Dataset& data, int64_t batch_size,
                    c10::Device device) {
  torch::NoGradGuard no_grad;
  bool was_training = model.is_training();
  model.eval();
  EvalResult r;
  double loss_sum = 0;
  int64_t correct = 0;
  for (int64_t s = 0; s < data.size(); s += batch_size) {
    int64_t e = std::min(data.size(), s + batch_size);
    torch::Tensor x = data.x.slice(0, s, e).to(device);
    torch::Tensor y = data.y.slice(0, s, e).to(device);
    torch::Tensor logits = forward(x);
    loss_sum += torch::nn::functional::cross_entropy(
                    logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                    .item<double>();
    correct += logits.argmax(1).eq(y).sum().item<int64_t>();
  }
  r.count = data.size();
  if (r.count > 0) {
    r.loss = loss_sum / static_cast<double>(r.count);
    r.accuracy = static_cast<double>(correct) / static_cast<double>(r.count);
  }
  model.train(was_training);
  return r;
}

void TrainOptions::validate() const { checkpoint.validate(); }

TrainResult train_steps(torch::nn::Module& saved, torch::optim::Optimizer& optimizer, int64_t items, const TrainOptions& o, uint64_t seed,
                        const std::string& label, const StepLoss& step_loss, const std::function<void(int64_t, double)>& on_step,
                        const std::function<void(nlohmann::json&)>& log_fields) {
  BatchIterator batches(items, o.batch_size, /*shuffle=*/true, seed);
  const int64_t per_epoch = batches.batches_per_epoch();
  const int64_t total = o.max_steps > 0 ? std::min(o.max_steps, o.epochs * per_epoch) : o.epochs * per_epoch;
  TrainResult result;
  TrainPosition pos;
  const CheckpointOptions& ck = o.checkpoint;
  if (ck.resuming()) {
    CheckpointState st = load_checkpoint(ck.path, saved, optimizer, nullptr);
    pos = st.position;
    result.resumed = true;
    result.resumed_from_step = pos.step;
    result.last_loss = st.extra.value("last_loss", 0.0);
    log::info("resumed from {} at step {}", ck.path.string(), pos.step);
  }
  std::optional<JsonlLog> jsonl;
  if (!o.log_jsonl.empty()) jsonl.emplace(o.log_jsonl, "step", result.resumed ? pos.step : -1);
  Progress progress(label, total);
  auto step = [&](int64_t) {
    const std::vector<int64_t> rows = batches.batch(pos.epoch, pos.batch);
    const double lr = lr_at(o.schedule, o.optimizer.lr, pos.step, total);
    set_lr(optimizer, lr);
    optimizer.zero_grad();
    result.last_loss = step_loss(rows, pos);
    optimizer.step();
    if (!std::isfinite(result.last_loss))
      throw Error(fmt::format("the {} loss is not finite at step {} (learning rate {:g} too large, or bad inputs); "
                              "the last checkpoint is kept", label == "train" ? "training" : label, pos.step + 1, lr));
    ++pos.step;
    if (++pos.batch == per_epoch) {
      pos.batch = 0;
      ++pos.epoch;
    }
    if (on_step) on_step(pos.step, result.last_loss);
    if (o.log_every > 0 && pos.step % o.log_every == 0) {
      log::info("{}step {}/{} loss {:.6f}", label == "train" ? "" : label + " ", pos.step, total, result.last_loss);
      nlohmann::json record = {{"step", pos.step}, {"epoch", pos.epoch}, {"loss", result.last_loss}, {"lr", lr}};
      if (log_fields) log_fields(record);
      if (jsonl) jsonl->write(record);
    }
    test_kill_point("PARAMKIT_TEST_KILL_AT_STEP", static_cast<long>(pos.step));
    progress.update(pos.step);
  };
  // The checkpoint holds `saved`, the optimizer, LibTorch's generator and the data position (pos.step
  // is the `next` step run_resumable asks for).
  auto save = [&](int64_t) {
    CheckpointState st;
    st.position = pos;
    st.extra = {{"last_loss", result.last_loss}};
    save_checkpoint(ck.path, saved, optimizer, nullptr, st);
  };
  const LoopOutcome done = run_resumable(ck, pos.step, total, step, save);
  progress.finish();
  result.steps = done.done;
  result.finished = done.finished;
  return result;
}

std::string checkpoint_name(const std::string& path) {
  std::string out;
  for (char c : path) out += c == '.' ? std::string("__") : std::string(1, c);
  return out;
}

TrainResult train_classifier(torch::nn::Module& model, const Forward& forward, const Dataset& data,
                             const TrainOptions& o, uint64_t seed, c10::Device device,
                             const std::function<void(int64_t, double)>& on_step, WeightGenerator* generated) {
  o.validate();
  if (data.size() == 0) throw InputError("training data", "", "no examples to train on");
  model.to(device);
  model.train();
  // Only the parameters that require gradients: a frozen part (a task head or trunk) stays as it is,
  // weight decay included.
  std::vector<torch::Tensor> params;
  for (const auto& p : model.parameters())
    if (p.requires_grad()) params.push_back(p);
  if (params.empty()) throw UsageError("training: every parameter of the model is frozen");
  // With generated weights only their trainable tensors are stepped (and checkpointed, in a holder
  // module); the module's parameters are recomputed from them before every forward pass.
  torch::nn::Module holder;
  if (generated) {
    params.clear();
    for (auto& [name, t] : generated->trainable()) {
      params.push_back(t);
      holder.register_parameter(name, t);
    }
    for (auto& [name, t] : generated->state()) holder.register_buffer(name, t);
  }
  auto optimizer = make_optimizer(o.optimizer, params);
  const TrainResult result = train_steps(
      generated ? holder : model, *optimizer, data.size(), o, seed, "train",
      [&](const std::vector<int64_t>& rows, const TrainPosition&) {
        torch::Tensor idx = torch::tensor(rows, torch::kInt64);
        torch::Tensor x = data.x.index_select(0, idx).to(device);
        torch::Tensor y = data.y.index_select(0, idx).to(device);
        if (generated) generated->load();
        torch::Tensor loss = torch::nn::functional::cross_entropy(forward(x), y);
        loss.backward();
        if (generated) generated->backward();
        return loss.item<double>();
      },
      on_step);
  if (generated) generated->load();  // the module holds the trained weights
  return result;
}

}  // namespace paramkit::nn
