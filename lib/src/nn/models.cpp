// MLP, MLP trunk with a task head, LeNet-5, ResNet-20.
#include "paramkit/nn/models.h"

#include "paramkit/core/error.h"

namespace paramkit::nn {

MlpImpl::MlpImpl(const MlpOptions& o) : options_(o) {
  if (o.activation != "relu" && o.activation != "tanh" && o.activation != "gelu")
    throw UsageError("MLP activation must be relu, tanh or gelu, got '" + o.activation + "'");
  layers_ = register_module("layers", torch::nn::ModuleList());
  int64_t prev = o.in;
  for (int64_t h : o.hidden) {
    layers_->push_back(torch::nn::Linear(prev, h));
    prev = h;
  }
  layers_->push_back(torch::nn::Linear(prev, o.out));
}

torch::Tensor MlpImpl::forward(torch::Tensor x) {
  x = x.flatten(1);
  const size_t n = layers_->size();
  for (size_t i = 0; i < n; ++i) {
    x = layers_[i]->as<torch::nn::Linear>()->forward(x);
    if (i + 1 < n) {
      if (options_.activation == "relu") x = torch::relu(x);
      else if (options_.activation == "tanh") x = torch::tanh(x);
      else x = torch::gelu(x);
    }
  }
  return x;
}

TrunkHeadImpl::TrunkHeadImpl(const MlpOptions& o, int64_t classes) {
  trunk = register_module("trunk", Mlp(o));
  head = register_module("head", torch::nn::Linear(o.out, classes));
}

torch::Tensor TrunkHeadImpl::forward(torch::Tensor x) {
  x = trunk->forward(x);
  const std::string& a = trunk->options().activation;
  x = a == "relu" ? torch::relu(x) : a == "tanh" ? torch::tanh(x) : torch::gelu(x);
  return head->forward(x);
}

LeNet5Impl::LeNet5Impl(int64_t in_channels, int64_t classes, int64_t input_size) : input_size_(input_size) {
  if (input_size < 12) throw UsageError("LeNet-5 needs inputs of at least 12 x 12 pixels");
  c1 = register_module("c1", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, 6, 5)));
  c3 = register_module("c3", torch::nn::Conv2d(torch::nn::Conv2dOptions(6, 16, 5)));
  const int64_t side = ((input_size - 4) / 2 - 4) / 2;  // two valid 5x5 convolutions, each pooled by 2
  f5 = register_module("f5", torch::nn::Linear(16 * side * side, 120));
  f6 = register_module("f6", torch::nn::Linear(120, 84));
  out = register_module("out", torch::nn::Linear(84, classes));
}

torch::Tensor LeNet5Impl::forward(torch::Tensor x) {
  if (x.dim() == 3) x = x.unsqueeze(1);
  if (input_size_ == 32 && x.size(-1) == 28) x = torch::constant_pad_nd(x, {2, 2, 2, 2});
  x = torch::max_pool2d(torch::relu(c1(x)), 2);
  x = torch::max_pool2d(torch::relu(c3(x)), 2);
  x = torch::relu(f5(x.flatten(1)));
  x = torch::relu(f6(x));
  return out(x);
}

BasicBlockImpl::BasicBlockImpl(int64_t in, int64_t out, int64_t stride) {
  conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false)));
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(out));
  conv2 = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(out, out, 3).stride(1).padding(1).bias(false)));
  bn2 = register_module("bn2", torch::nn::BatchNorm2d(out));
  shortcut = register_module("shortcut", torch::nn::Sequential());
  if (stride != 1 || in != out) {
    shortcut->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1).stride(stride).bias(false)));
    shortcut->push_back(torch::nn::BatchNorm2d(out));
  }
}

torch::Tensor BasicBlockImpl::forward(torch::Tensor x) {
  torch::Tensor h = torch::relu(bn1(conv1(x)));
  h = bn2(conv2(h));
  torch::Tensor s = shortcut->size() ? shortcut->forward(x) : x;
  return torch::relu(h + s);
}

ResNet20Impl::ResNet20Impl(int64_t in_channels, int64_t classes, int64_t width, int64_t blocks_per_stage) {
  stem = register_module("stem", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, width, 3).padding(1).bias(false)));
  bn = register_module("bn", torch::nn::BatchNorm2d(width));
  stages = register_module("stages", torch::nn::Sequential());
  int64_t in = width;
  for (int s = 0; s < 3; ++s) {
    int64_t out = width << s;
    for (int64_t b = 0; b < blocks_per_stage; ++b) {
      stages->push_back(BasicBlock(in, out, (s > 0 && b == 0) ? 2 : 1));
      in = out;
    }
  }
  head = register_module("head", torch::nn::Linear(in, classes));
}

torch::Tensor ResNet20Impl::forward(torch::Tensor x) {
  if (x.dim() == 3) x = x.unsqueeze(1);
  x = torch::relu(bn(stem(x)));
  x = stages->forward(x);
  x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
  return head(x);
}

VGG11Impl::VGG11Impl(int64_t in_channels, int64_t classes, int64_t width, int64_t input_size) {
  if (width < 1) throw UsageError("VGG-11 width must be positive");
  features = register_module("features", torch::nn::Sequential());
  const int64_t widths[] = {1, 2, 4, 4, 8, 8, 8, 8};
  const bool pool_after[] = {true, true, false, true, false, true, false, input_size >= 32};
  int64_t in = in_channels, side = input_size;
  for (int i = 0; i < 8; ++i) {
    const int64_t out = widths[i] * width;
    features->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1).bias(false)));
    features->push_back(torch::nn::BatchNorm2d(out));
    features->push_back(torch::nn::ReLU());
    if (pool_after[i] && side >= 2) {
      features->push_back(torch::nn::MaxPool2d(2));
      side /= 2;
    }
    in = out;
  }
  head = register_module("head", torch::nn::Linear(in, classes));
}

torch::Tensor VGG11Impl::forward(torch::Tensor x) {
  if (x.dim() == 3) x = x.unsqueeze(1);
  x = features->forward(x);
  return head(torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1));
}

std::shared_ptr<torch::nn::Module> make_model(const std::string& name, const std::vector<int64_t>& in_shape,
                                              int64_t classes, std::function<torch::Tensor(torch::Tensor)>& forward,
                                              const std::vector<int64_t>& hidden) {
  if (in_shape.empty() || classes < 1) throw UsageError("a model needs an input shape and at least one class");
  int64_t flat = 1;
  for (int64_t d : in_shape) {
    if (d < 1) throw UsageError("a model's input shape must be positive");
    flat *= d;
  }
  int64_t channels = in_shape.size() == 3 ? in_shape[0] : 1;
  if (!hidden.empty() && name != "mlp") throw UsageError("hidden widths are for the mlp model, not " + name);
  if (name == "mlp") {
    MlpOptions o;
    o.in = flat;
    o.out = classes;
    if (!hidden.empty()) o.hidden = hidden;
    for (int64_t h : o.hidden)
      if (h < 1) throw UsageError("hidden widths must be positive");
    auto m = Mlp(o);
    forward = [m](torch::Tensor x) mutable { return m->forward(x); };
    return m.ptr();
  }
  if (name == "lenet5" || name == "lenet") {
    // lenet: unpadded inputs, the LeNet of Li et al. 2018 (D = 44,426 on MNIST)
    auto m = name == "lenet" ? LeNet5(channels, classes, in_shape.back()) : LeNet5(channels, classes);
    forward = [m](torch::Tensor x) mutable { return m->forward(x); };
    return m.ptr();
  }
  if (name == "resnet20") {
    auto m = ResNet20(channels, classes);
    forward = [m](torch::Tensor x) mutable { return m->forward(x); };
    return m.ptr();
  }
  if (name == "vgg11") {
    auto m = VGG11(channels, classes, 64, in_shape.back());
    forward = [m](torch::Tensor x) mutable { return m->forward(x); };
    return m.ptr();
  }
  throw UsageError("--model must be mlp, lenet5, lenet, resnet20 or vgg11, got '" + name + "'");
}

std::shared_ptr<torch::nn::Module> build_model(const ModelSpec& spec, uint64_t seed, std::function<torch::Tensor(torch::Tensor)>& forward) {
  torch::manual_seed(seed);
  return make_model(spec.name, spec.in_shape, spec.classes, forward, spec.hidden);
}

nlohmann::json to_json(const ModelSpec& s) {
  return {{"name", s.name}, {"in_shape", s.in_shape}, {"classes", s.classes}, {"hidden", s.hidden}};
}

ModelSpec model_spec_from_json(const nlohmann::json& j, const std::string& source) {
  ModelSpec s;
  auto field = [&](const char* key) -> const nlohmann::json& {
    if (!j.is_object() || !j.contains(key)) throw InputError(source, std::string("model.") + key, "missing");
    return j.at(key);
  };
  auto ints = [&](const char* key, bool allow_empty) {
    const auto& v = field(key);
    std::vector<int64_t> out;
    if (!v.is_array() || (!allow_empty && v.empty())) throw InputError(source, std::string("model.") + key, "expected a list of positive integers");
    for (const auto& x : v) {
      if (!x.is_number_integer() || x.get<int64_t>() < 1 || x.get<int64_t>() > (int64_t{1} << 24))
        throw InputError(source, std::string("model.") + key, "expected a list of positive integers");
      out.push_back(x.get<int64_t>());
    }
    return out;
  };
  const auto& name = field("name");
  if (!name.is_string() || (name != "mlp" && name != "lenet5" && name != "lenet" && name != "resnet20" && name != "vgg11"))
    throw InputError(source, "model.name", "expected mlp, lenet5, lenet, resnet20 or vgg11");
  s.name = name.get<std::string>();
  s.in_shape = ints("in_shape", false);
  s.hidden = ints("hidden", true);
  const auto& c = field("classes");
  if (!c.is_number_integer() || c.get<int64_t>() < 1 || c.get<int64_t>() > (int64_t{1} << 24))
    throw InputError(source, "model.classes", "expected a positive integer");
  s.classes = c.get<int64_t>();
  if (!s.hidden.empty() && s.name != "mlp") throw InputError(source, "model.hidden", "hidden widths are for the mlp model");
  if (s.in_shape.size() > 3) throw InputError(source, "model.in_shape", "expected [D], [H, W] or [C, H, W]");
  return s;
}

}  // namespace paramkit::nn
