#include "ResNet.h"

#include <torch/torch.h>

#include <array>
#include <map>

#include "BasicBlock.h"
#include "Bottleneck.h"
#include "ModuleWeights.h"

namespace labrun::resnet {
namespace {

bool startsWith(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

bool endsWith(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

ResNet::ResNet(std::int64_t depth, std::int64_t extra_pool)
    : depth_(depth), extra_pool_(extra_pool) {
  // Blocks per layer of torchvision's resnet18 ... resnet152.
  static const std::map<std::int64_t, std::array<std::int64_t, 4>> kLayers = {
      {18, {2, 2, 2, 2}},
      {34, {3, 4, 6, 3}},
      {50, {3, 4, 6, 3}},
      {101, {3, 4, 23, 3}},
      {152, {3, 8, 36, 3}}};
  const auto layers = kLayers.find(depth);
  if (layers == kLayers.end()) {
    throw std::invalid_argument(
        c10::str("depth: expected 18, 34, 50, 101 or 152, found ", depth));
  }
  if (extra_pool < 0) {
    throw std::invalid_argument("extra_pool: expected a size >= 0");
  }
  conv1_ = register_module(
      "conv1",
      torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 64, /*kernel_size=*/7)
                            .stride(2)
                            .padding(3)
                            .bias(false)));
  bn1_ = register_module("bn1", torch::nn::BatchNorm2d(64));
  const auto& blocks = layers->second;
  const bool basic = depth < 50;
  const std::array<std::int64_t, 4> channels = {64, 128, 256, 512};
  std::array<torch::nn::Sequential*, 4> members = {&layer1_, &layer2_, &layer3_,
                                                   &layer4_};
  for (std::size_t i = 0; i < members.size(); ++i) {
    const std::int64_t stride = i == 0 ? 1 : 2;
    *members[i] = register_module(
        "layer" + std::to_string(i + 1),
        basic ? makeLayer<BasicBlockImpl>(channels[i], blocks[i], stride)
              : makeLayer<BottleneckImpl>(channels[i], blocks[i], stride));
  }
  out_channels_ = in_channels_;
  // torchvision's initialisation (BatchNorm: weight 1, bias 0 by default).
  for (const auto& module : modules(/*include_self=*/false)) {
    if (auto* conv = module->as<torch::nn::Conv2d>()) {
      torch::nn::init::kaiming_normal_(conv->weight, /*a=*/0, torch::kFanOut,
                                       torch::kReLU);
    }
  }
}

template <typename Block>
torch::nn::Sequential ResNet::makeLayer(std::int64_t channels,
                                        std::int64_t blocks,
                                        std::int64_t stride) {
  torch::nn::Sequential layer;
  for (std::int64_t i = 0; i < blocks; ++i) {
    layer->push_back(
        std::make_shared<Block>(in_channels_, channels, i == 0 ? stride : 1));
    in_channels_ = channels * Block::kExpansion;
  }
  return layer;
}

torch::Tensor ResNet::forward(torch::Tensor images) {
  torch::Tensor x = bn1_->forward(conv1_->forward(images)).relu_();
  x = torch::max_pool2d(x, /*kernel_size=*/3, /*stride=*/2, /*padding=*/1);
  x = layer4_->forward(layer3_->forward(layer2_->forward(layer1_->forward(x))));
  if (extra_pool_ > 0) {
    x = torch::avg_pool2d(x, /*kernel_size=*/extra_pool_,
                          /*stride=*/extra_pool_);
  }
  return x;
}

void ResNet::loadStateDict(const StateDict& state, const std::string& source,
                           const std::vector<std::string>& ignored_prefixes) {
  weights::FitRules rules;
  rules.ignored = [&ignored_prefixes](const std::string& key) {
    if (startsWith(key, "fc.")) return true;
    for (const std::string& prefix : ignored_prefixes) {
      if (startsWith(key, prefix)) return true;
    }
    return false;
  };
  rules.optional = [](const std::string& key) {
    return endsWith(key, ".num_batches_tracked");
  };
  weights::loadModuleWeights(*this, state, source, c10::str("resnet", depth_),
                             rules);
}

StateDict ResNet::fromSequentialNames(const StateDict& state,
                                      const std::string& source) {
  // torchvision's ResNet.children(): conv1, bn1, relu, maxpool, layer1 ...
  // layer4 (avgpool and fc are what [:-2] leaves out).
  static const char* const kChildren[] = {
      "conv1", "bn1", "", "", "layer1", "layer2", "layer3", "layer4"};
  StateDict renamed;
  for (const auto& [key, tensor] : state) {
    const std::size_t dot = key.find('.');
    const std::string index = key.substr(0, dot);
    const bool numeric = dot != std::string::npos && !index.empty() &&
                         index.size() <= 1 && index[0] >= '0' &&
                         index[0] < '0' + std::size(kChildren);
    const char* child = numeric ? kChildren[index[0] - '0'] : "";
    if (*child == '\0') {
      throw std::runtime_error(c10::str(
          "weights '", source,
          "': weights_layout sequential expects keys "
          "'<child index>.<name>' with the index of a torchvision ResNet "
          "child holding parameters (0 conv1, 1 bn1, 4 layer1, 5 layer2, 6 "
          "layer3, 7 layer4), found '",
          key, "'"));
    }
    renamed.emplace(child + key.substr(dot), tensor);
  }
  return renamed;
}

void ResNet::freeze(const std::vector<std::string>& prefixes) {
  const auto parameters = named_parameters();
  for (const std::string& prefix : prefixes) {
    bool matched = false;
    for (const auto& item : parameters) {
      if (item.key() == prefix || startsWith(item.key(), prefix + ".")) {
        item.value().set_requires_grad(false);
        matched = true;
      }
    }
    if (!matched) {
      throw std::invalid_argument(c10::str(
          "freeze: '", prefix,
          "' names no module; expected module prefixes such as conv1, bn1, "
          "layer1 ... layer4, layer1.0 or layer1.0.conv1"));
    }
  }
}

void ResNet::freezeBatchNorm() {
  freezeBatchNorm(std::vector<std::string>{""});
}

void ResNet::freezeBatchNorm(const std::vector<std::string>& prefixes) {
  const auto named = named_modules(/*name_prefix=*/"", /*include_self=*/false);
  for (const std::string& prefix : prefixes) {
    bool matched = false;
    for (const auto& item : named) {
      auto batch_norm =
          std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(item.value());
      // "" (every BatchNorm) is only passed by freezeBatchNorm().
      if (!batch_norm || !(prefix.empty() || item.key() == prefix ||
                           startsWith(item.key(), prefix + "."))) {
        continue;
      }
      matched = true;
      for (auto& parameter : batch_norm->parameters()) {
        parameter.set_requires_grad(false);
      }
      frozen_bn_.emplace_back(batch_norm);
    }
    if (!matched) {
      throw std::invalid_argument(c10::str(
          "frozen_bn: '", prefix,
          "' holds no BatchNorm; expected module prefixes such as bn1, "
          "layer1 ... layer4, layer1.0 or layer1.0.bn1"));
    }
  }
  train(is_training());
}

void ResNet::train(bool on) {
  Backbone::train(on);
  for (auto& batch_norm : frozen_bn_) batch_norm->eval();
}

}  // namespace labrun::resnet
