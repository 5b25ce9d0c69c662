// torchvision's BasicBlock (ResNet-18/34): two 3x3 convolutions and a
// residual shortcut.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <cstdint>

namespace labrun::resnet {

class BasicBlockImpl : public torch::nn::Module {
 public:
  // Output channels = channels * kExpansion.
  static constexpr std::int64_t kExpansion = 1;

  // `stride` applies to the first convolution.
  BasicBlockImpl(std::int64_t in_channels, std::int64_t channels,
                 std::int64_t stride);
  // x: [B, in_channels, H, W] -> [B, channels, H / stride, W / stride]
  torch::Tensor forward(torch::Tensor x);

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
  torch::nn::Sequential downsample_{nullptr};
};
TORCH_MODULE(BasicBlock);

}  // namespace labrun::resnet
