#include "paramkit/nbody/policy.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "paramkit/core/error.h"
#include "paramkit/io/json.h"
#include "paramkit/io/tensor_store.h"
#include "paramkit/nbody/integrators.h"

namespace paramkit::nbody {

namespace {
nlohmann::json env_json(const EnvOptions& e) {
  return {{"integrator", e.integrator}, {"steps", e.steps}, {"step_time", e.step_time}, {"max_error", e.max_error},
          {"actions", e.actions}, {"w", {e.weights.w0, e.weights.w1, e.weights.w2}}, {"cost_weight", e.cost_weight},
          {"reward_clip", e.reward_clip}, {"reward", e.reward}};
}
EnvOptions env_from_json(const nlohmann::json& j) {
  EnvOptions e;
  e.integrator = j.at("integrator").get<std::string>();
  e.steps = j.at("steps").get<int>();
  e.step_time = j.at("step_time").get<double>();
  e.max_error = j.at("max_error").get<double>();
  e.actions = j.at("actions").get<std::vector<double>>();
  e.weights = {j.at("w")[0].get<double>(), j.at("w")[1].get<double>(), j.at("w")[2].get<double>()};
  e.cost_weight = j.at("cost_weight").get<double>();
  e.reward_clip = j.value("reward_clip", 0.0);
  e.reward = j.value("reward", std::string("reward5"));  // files from before --reward: reward 5
  return e;
}
}  // namespace

std::vector<float> Policy::q_values(const std::vector<double>& state) const {
  auto layer = [](const Dense& d, const std::vector<float>& x, bool relu) {
    std::vector<float> y(d.b);
    float* __restrict yp = y.data();
    for (int i = 0; i < d.in; ++i) {
      const float xi = x[i];
      const float* __restrict w = &d.w[static_cast<size_t>(i) * d.out];
      for (int o = 0; o < d.out; ++o) yp[o] += xi * w[o];
    }
    if (relu)
      for (float& v : y) v = v < 0 ? 0 : v;
    return y;
  };
  std::vector<float> x(state.begin(), state.end());
  x = layer(in, x, true);
  for (int r = 0; r < repeats; ++r) x = layer(mid, x, true);
  return layer(out, x, false);
}

int Policy::choose(const std::vector<double>& state) const {
  std::vector<float> q = q_values(state);
  return static_cast<int>(std::max_element(q.begin(), q.end()) - q.begin());
}

Policy load_policy(const std::filesystem::path& path) {
  auto reader = open_tensors(path);
  auto it = reader->metadata().find("nbody_policy");
  if (it == reader->metadata().end()) throw InputError(path.string(), "__metadata__.nbody_policy", "not a policy written by 'nbody-rl train'");
  Policy p;
  int hidden = 0;
  try {
    nlohmann::json j = parse_json(it->second, path.string());
    p.env = env_from_json(j.at("env"));
    hidden = j.at("hidden").get<int>();
    p.repeats = j.at("repeats").get<int>();
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path.string(), "__metadata__.nbody_policy", std::string("malformed: ") + e.what());
  }
  // The environment it was trained in drives integrate and evaluate: the same checks as a training run's.
  const auto& names = integrator_names();
  if (std::find(names.begin(), names.end(), p.env.integrator) == names.end())
    throw InputError(path.string(), "__metadata__.nbody_policy.env.integrator", "unknown integrator '" + p.env.integrator + "'");
  for (double a : p.env.actions)
    if (!std::isfinite(a) || !(a > 0)) throw InputError(path.string(), "__metadata__.nbody_policy.env.actions", "an action that is not a positive number");
  if (p.env.steps < 1 || !std::isfinite(p.env.step_time) || !(p.env.step_time > 0) || !std::isfinite(p.env.max_error) || !(p.env.max_error > 0))
    throw InputError(path.string(), "__metadata__.nbody_policy.env", "steps, step_time and max_error must be positive");
  const auto& rewards = reward_names();
  if (std::find(rewards.begin(), rewards.end(), p.env.reward) == rewards.end())
    throw InputError(path.string(), "__metadata__.nbody_policy.env.reward", "unknown reward '" + p.env.reward + "'");
  if (!std::isfinite(p.env.cost_weight) || p.env.cost_weight < 0)
    throw InputError(path.string(), "__metadata__.nbody_policy.env.cost_weight", "not a finite number >= 0");
  const int actions = static_cast<int>(p.env.actions.size());
  if (hidden < 1 || hidden > 4096 || p.repeats < 0 || p.repeats > 64 || actions < 1 || actions > 1000)
    throw InputError(path.string(), "__metadata__.nbody_policy", "hidden " + std::to_string(hidden) + ", repeats " + std::to_string(p.repeats) +
                                                                     ", " + std::to_string(actions) + " actions: out of range");
  // Each layer from PyTorch's [out, in] weight and [out] bias, stored transposed.
  auto read = [&](const std::string& name, int in_features, int out_features, Policy::Dense& d) {
    d.in = in_features;
    d.out = out_features;
    std::vector<float> w(static_cast<size_t>(in_features) * out_features), b(out_features);
    for (auto [suffix, shape, dst] : {std::tuple<const char*, std::vector<int64_t>, float*>{".weight", {out_features, in_features}, w.data()},
                                      std::tuple<const char*, std::vector<int64_t>, float*>{".bias", {out_features}, b.data()}}) {
      const std::string t = name + suffix;
      if (!reader->contains(t)) throw InputError(path.string(), t, "missing");
      const TensorInfo& info = reader->info(t);
      if (info.shape != shape) throw InputError(path.string(), t, "shape " + shape_str(info.shape) + ", expected " + shape_str(shape));
      reader->read_as(info, DType::F32, dst);
    }
    for (float v : w)
      if (!std::isfinite(v)) throw InputError(path.string(), name + ".weight", "a non-finite weight");
    for (float v : b)
      if (!std::isfinite(v)) throw InputError(path.string(), name + ".bias", "a non-finite value");
    d.w.resize(w.size());
    for (int o = 0; o < out_features; ++o)
      for (int i = 0; i < in_features; ++i) d.w[static_cast<size_t>(i) * out_features + o] = w[static_cast<size_t>(o) * in_features + i];
    d.b = std::move(b);
  };
  read("in", ThreeBodyEnv::kStateSize, hidden, p.in);
  read("mid", hidden, hidden, p.mid);
  read("out", hidden, actions, p.out);
  for (const auto& t : reader->tensors())
    if (t.name.rfind("in.", 0) != 0 && t.name.rfind("mid.", 0) != 0 && t.name.rfind("out.", 0) != 0)
      throw InputError(path.string(), t.name, "not a tensor of the policy network");
  if (reader->tensors().size() != 6) throw InputError(path.string(), "", "expected the 6 tensors of the policy network");
  return p;
}

void save_policy(const std::filesystem::path& path, const Policy& p, Metadata meta) {
  if (p.empty()) throw std::logic_error("save_policy: no network");
  meta["nbody_policy"] = nlohmann::json({{"env", env_json(p.env)}, {"hidden", p.in.out}, {"repeats", p.repeats}}).dump();
  const std::pair<std::string, const Policy::Dense*> layers[] = {{"in", &p.in}, {"mid", &p.mid}, {"out", &p.out}};
  std::vector<TensorRecord> records;
  for (const auto& [name, d] : layers) {
    records.push_back({name + ".weight", DType::F32, {d->out, d->in}});
    records.push_back({name + ".bias", DType::F32, {d->out}});
  }
  FillFn fill = [&](const TensorRecord& r, void* dst) {
    float* f = static_cast<float*>(dst);
    for (const auto& [name, d] : layers) {
      if (r.name == name + ".bias") std::copy(d->b.begin(), d->b.end(), f);
      if (r.name == name + ".weight")  // back to [out, in]
        for (int o = 0; o < d->out; ++o)
          for (int i = 0; i < d->in; ++i) f[static_cast<size_t>(o) * d->in + i] = d->w[static_cast<size_t>(i) * d->out + o];
    }
  };
  write_tensors(path, StoreFormat::safetensors, records, fill, meta);
}

}  // namespace paramkit::nbody
