// torchvision's ResNet as a backbone: without its classifier (avgpool, fc)
// it returns the layer4 feature map, at output stride 32. Module and
// parameter names are torchvision's (conv1, bn1, layer1.0.conv1,
// layer1.0.downsample.0, ...), so a torchvision state dict maps 1:1.
#pragma once

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>

#include <cstdint>
#include <string>
#include <vector>

#include "labrun/Backbone.h"
#include "labrun/ModelContext.h"

namespace labrun::resnet {

class ResNet : public Backbone {
 public:
  // depth: 18, 34, 50, 101 or 152 (throws std::invalid_argument otherwise).
  // extra_pool: 0, or k for an AvgPool2d(k, stride k) after layer4 (the
  // released SSGRL code uses 2: output stride 64).
  ResNet(std::int64_t depth, std::int64_t extra_pool);

  // images: [B, 3, H, W] -> [B, outChannels(), ceil(H / 32), ceil(W / 32)]
  // (divided again by extra_pool when set).
  torch::Tensor forward(torch::Tensor images) override;
  // 512 (depth 18, 34) or 2048 (depth 50, 101, 152).
  std::int64_t outChannels() const override { return out_channels_; }

  // Copies a torchvision state dict into the parameters and buffers; fc.*
  // entries and those under `ignored_prefixes` (e.g. "classifier.", a
  // head's keys beside the backbone's) are ignored, and missing
  // num_batches_tracked counters tolerated (torchvision's classic files
  // lack them). Throws std::runtime_error naming `source` and listing the
  // missing, unexpected and mis-shaped keys (with both shapes) when the
  // dict does not fit.
  void loadStateDict(const StateDict& state, const std::string& source,
                     const std::vector<std::string>& ignored_prefixes = {});
  // A state dict of `nn.Sequential(*list(resnet.children())[:-2])` (as
  // ML-GCN's `features` stores it: "0.weight", "1.running_mean",
  // "4.0.conv1.weight", ...) under torchvision's names ("conv1.weight",
  // "bn1.running_mean", "layer1.0.conv1.weight", ...). Throws
  // std::runtime_error naming `source` and the key for a key that does not
  // start with the index of a child holding parameters (0, 1, 4 ... 7).
  static StateDict fromSequentialNames(const StateDict& state,
                                       const std::string& source);
  // Stops training the parameters under each module prefix ("layer1",
  // "layer2.0.conv1"...): requires_grad = false. Throws
  // std::invalid_argument for a prefix that names no module.
  void freeze(const std::vector<std::string>& prefixes);
  // Keeps every BatchNorm in eval mode from now on (running statistics
  // fixed, also under train()) and freezes its weight and bias.
  void freezeBatchNorm();
  // The same for the BatchNorms under each module prefix ("bn1", "layer3",
  // "layer4.0.downsample"...), e.g. all but layer4's as the released SSGRL
  // code trains. Throws std::invalid_argument for a prefix that holds no
  // BatchNorm.
  void freezeBatchNorm(const std::vector<std::string>& prefixes);
  void train(bool on = true) override;

 private:
  template <typename Block>
  torch::nn::Sequential makeLayer(std::int64_t channels, std::int64_t blocks,
                                  std::int64_t stride);

  std::int64_t depth_;
  std::int64_t extra_pool_;
  std::int64_t in_channels_ = 64;  // of the next layer, while building
  std::int64_t out_channels_ = 0;
  // BatchNorms kept in eval mode.
  std::vector<torch::nn::BatchNorm2d> frozen_bn_;
  torch::nn::Conv2d conv1_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr};
  torch::nn::Sequential layer1_{nullptr}, layer2_{nullptr}, layer3_{nullptr},
      layer4_{nullptr};
};

}  // namespace labrun::resnet
