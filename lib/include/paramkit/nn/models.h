// Models the tools need first: MLP, LeNet-5 and a ResNet-20-style CNN (He et al. 2016, CIFAR variant).
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace paramkit::nn {

struct MlpOptions {
  int64_t in = 784;
  std::vector<int64_t> hidden = {256, 256};
  int64_t out = 10;
  std::string activation = "relu";  // relu, tanh, gelu
};

class MlpImpl : public torch::nn::Module {
 public:
  explicit MlpImpl(const MlpOptions& o);
  torch::Tensor forward(torch::Tensor x);  // flattens all but the batch dimension
  const MlpOptions& options() const { return options_; }

 private:
  MlpOptions options_;
  torch::nn::ModuleList layers_;
};
TORCH_MODULE(Mlp);

// An MLP trunk and a linear head per task: head(act(trunk(x))), tensors trunk.* and head.*. The
// multi-task setting of model merging: trunks fine-tuned on different tasks are merged and each task
// keeps its own head (pcb-merge --exclude 'head.*'). trunk.out is the width of the features.
class TrunkHeadImpl : public torch::nn::Module {
 public:
  TrunkHeadImpl(const MlpOptions& trunk, int64_t classes);
  torch::Tensor forward(torch::Tensor x);

  Mlp trunk{nullptr};
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(TrunkHead);

// LeNet-5 for 1x28x28 (padded to 32x32 as in LeCun et al. 1998) or 3x32x32 inputs. input_size: the
// side the convolutions see; 32 pads 28x28 inputs, anything else takes inputs of that side unpadded
// (28: the LeNet of Li et al. 2018, D = 44,426 on MNIST, against 61,706 padded).
class LeNet5Impl : public torch::nn::Module {
 public:
  LeNet5Impl(int64_t in_channels = 1, int64_t classes = 10, int64_t input_size = 32);
  torch::Tensor forward(torch::Tensor x);

 private:
  torch::nn::Conv2d c1{nullptr}, c3{nullptr};
  torch::nn::Linear f5{nullptr}, f6{nullptr}, out{nullptr};
  int64_t input_size_ = 32;
};
TORCH_MODULE(LeNet5);

class BasicBlockImpl : public torch::nn::Module {
 public:
  BasicBlockImpl(int64_t in, int64_t out, int64_t stride);
  torch::Tensor forward(torch::Tensor x);

 private:
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Sequential shortcut{nullptr};
};
TORCH_MODULE(BasicBlock);

// ResNet-20: 3 stages of 3 basic blocks, widths w, 2w, 4w (w = 16), global pooling, linear head.
class ResNet20Impl : public torch::nn::Module {
 public:
  ResNet20Impl(int64_t in_channels = 3, int64_t classes = 10, int64_t width = 16, int64_t blocks_per_stage = 3);
  torch::Tensor forward(torch::Tensor x);

 private:
  torch::nn::Conv2d stem{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
  torch::nn::Sequential stages{nullptr};
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(ResNet20);

// VGG-11-style (Simonyan & Zisserman 2015; the CIFAR variant of the parameter-sharing papers): 3x3
// convolutions with batch norm and ReLU, widths w, 2w, 4w, 4w, 8w, 8w, 8w, 8w (w = 64: VGG-11), max
// pooling after the 1st, 2nd, 4th and 6th (and 8th, on inputs of 32 and more), global average pooling,
// one linear classifier.
class VGG11Impl : public torch::nn::Module {
 public:
  VGG11Impl(int64_t in_channels = 3, int64_t classes = 10, int64_t width = 64, int64_t input_size = 32);
  torch::Tensor forward(torch::Tensor x);

 private:
  torch::nn::Sequential features{nullptr};
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(VGG11);

// A model by name for the tools' --model flag: mlp, lenet5, lenet (LeNet-5 unpadded), resnet20, vgg11. in_shape: [C, H, W] or [D].
// hidden: the MLP's widths (empty: MlpOptions' default; an error for the others).
std::shared_ptr<torch::nn::Module> make_model(const std::string& name, const std::vector<int64_t>& in_shape,
                                              int64_t classes, std::function<torch::Tensor(torch::Tensor)>& forward,
                                              const std::vector<int64_t>& hidden = {});

// A classifier described by value, so that a file can name it and a later run rebuild it: the same spec
// and seed give the same initial weights (LibTorch's generator is seeded with `seed` first) with the same
// LibTorch build. JSON: {"name", "in_shape", "classes", "hidden"}.
struct ModelSpec {
  std::string name = "mlp";       // mlp, lenet5, lenet (unpadded), resnet20, vgg11
  std::vector<int64_t> in_shape;  // [C, H, W] or [D]
  int64_t classes = 10;
  std::vector<int64_t> hidden;  // mlp widths (empty: the default)
};
std::shared_ptr<torch::nn::Module> build_model(const ModelSpec& spec, uint64_t seed, std::function<torch::Tensor(torch::Tensor)>& forward);
nlohmann::json to_json(const ModelSpec& spec);
// InputError naming `source` and the field for a missing or malformed one.
ModelSpec model_spec_from_json(const nlohmann::json& j, const std::string& source);

}  // namespace paramkit::nn
