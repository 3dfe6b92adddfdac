// Training checkpoints as safetensors: "model.*" tensors, the optimizer's LibTorch archive and the CPU
// generator state as U8 tensors, the position and the tool's state as JSON metadata.
#include "paramkit/torch/checkpoint.h"

#include <algorithm>
#include <mutex>
#include <sstream>

#include "paramkit/core/error.h"
#include "paramkit/core/provenance.h"
#include "paramkit/torch/state_dict.h"

namespace paramkit {
namespace {
torch::Tensor bytes_tensor(const std::string& s) {
  torch::Tensor t = torch::empty({static_cast<int64_t>(s.size())}, torch::kUInt8);
  if (!s.empty()) std::memcpy(t.data_ptr(), s.data(), s.size());
  return t;
}
std::string tensor_bytes(const torch::Tensor& t) {
  return std::string(static_cast<const char*>(t.data_ptr()), static_cast<size_t>(t.numel()));
}
}  // namespace

namespace {
std::string archive_name(const std::string& name) { return name.empty() ? "optimizer.archive" : "optimizer." + name + ".archive"; }
}  // namespace

void save_checkpoint(const std::filesystem::path& path, const torch::nn::Module& model, torch::optim::Optimizer& optimizer,
                     const Rng* rng, const CheckpointState& state) {
  save_checkpoint(path, model, NamedOptimizers{{"", &optimizer}}, rng, state);
}

void save_checkpoint(const std::filesystem::path& path, const torch::nn::Module& model, const NamedOptimizers& optimizers,
                     const Rng* rng, const CheckpointState& state) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (auto& [name, t] : named_state(model)) tensors.emplace_back("model." + name, t);
  for (const auto& [name, optimizer] : optimizers) {
    torch::serialize::OutputArchive archive;
    optimizer->save(archive);
    std::ostringstream os;
    archive.save_to(os);
    tensors.emplace_back(archive_name(name), bytes_tensor(os.str()));
  }
  tensors.emplace_back("rng.torch_cpu", at::detail::getDefaultCPUGenerator().get_state());
  Metadata meta = provenance_metadata();
  nlohmann::json pos = {{"step", state.position.step}, {"epoch", state.position.epoch}, {"batch", state.position.batch}};
  meta["paramkit.checkpoint"] = nlohmann::json({{"position", pos},
                                                {"rng", rng ? nlohmann::json(std::to_string(rng->state())) : nlohmann::json()},
                                                {"extra", state.extra}})
                                    .dump();
  save_tensors(path, tensors, meta);
}

CheckpointState load_checkpoint(const std::filesystem::path& path, torch::nn::Module& model,
                                torch::optim::Optimizer& optimizer, Rng* rng) {
  return load_checkpoint(path, model, NamedOptimizers{{"", &optimizer}}, rng);
}

CheckpointState load_checkpoint(const std::filesystem::path& path, torch::nn::Module& model, const NamedOptimizers& optimizers, Rng* rng) {
  auto reader = open_tensors(path);
  auto it = reader->metadata().find("paramkit.checkpoint");
  if (it == reader->metadata().end())
    throw InputError(path.string(), "__metadata__.paramkit.checkpoint", "missing: not a paramkit training checkpoint");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(it->second);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path.string(), "__metadata__.paramkit.checkpoint", e.what());
  }
  load_state_dict(model, *reader, /*strict=*/false, "model.");
  for (const auto& [name, optimizer] : optimizers) {
    const auto& ts = reader->tensors();
    if (std::none_of(ts.begin(), ts.end(), [&](const TensorInfo& t) { return t.name == archive_name(name); }))
      throw InputError(path.string(), archive_name(name), "missing: the checkpoint is of another run");
    std::string archive_bytes = tensor_bytes(read_tensor(*reader, archive_name(name)));
    std::istringstream is(archive_bytes);
    torch::serialize::InputArchive archive;
    archive.load_from(is);
    optimizer->load(archive);
  }
  {
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(read_tensor(*reader, "rng.torch_cpu"));
  }
  CheckpointState st;
  try {
    st.position.step = j.at("position").at("step").get<int64_t>();
    st.position.epoch = j.at("position").at("epoch").get<int64_t>();
    st.position.batch = j.at("position").at("batch").get<int64_t>();
    if (rng && j.at("rng").is_string()) rng->set_state(std::stoull(j.at("rng").get<std::string>()));
    st.extra = j.value("extra", nlohmann::json::object());
  } catch (const std::exception& e) {
    throw InputError(path.string(), "__metadata__.paramkit.checkpoint", std::string("malformed: ") + e.what());
  }
  return st;
}

}  // namespace paramkit
