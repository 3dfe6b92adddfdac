// A trained time-step policy without LibTorch: the Q network's weights as plain floats, the forward
// pass in C++ (a LibTorch call per layer would cost more than the arithmetic of this small net), and
// the safetensors file 'nbody-rl train' writes. Integrating and evaluating with a policy need only this.
#pragma once
#include <filesystem>
#include <vector>

#include "paramkit/io/safetensors.h"
#include "paramkit/nbody/env.h"

namespace paramkit::nbody {

// Q network 13 -> hidden -> (mid applied `repeats` times) -> actions, ReLU between layers.
struct Policy {
  struct Dense {
    int in = 0, out = 0;
    std::vector<float> w, b;  // w row-major [in][out] (transposed), so the inner loop runs over outputs
  };
  EnvOptions env;  // the environment the policy was trained in
  Dense in, mid, out;
  int repeats = 0;
  bool empty() const { return in.out == 0; }
  int choose(const std::vector<double>& state) const;
  std::vector<float> q_values(const std::vector<double>& state) const;
};

// Reads a policy written by save_policy; InputError naming the file and tensor for anything else
// (other tensors, shapes, non-finite weights, a missing or malformed "nbody_policy" entry).
Policy load_policy(const std::filesystem::path& path);
// Writes a policy as safetensors: tensors in.weight, in.bias, mid.*, out.* (PyTorch's [out, in]
// layout, F32) and, in `metadata` (with the caller's entries, e.g. provenance), "nbody_policy": the
// environment settings and network shape load_policy reads.
void save_policy(const std::filesystem::path& path, const Policy& policy, Metadata metadata);

}  // namespace paramkit::nbody
