// torchvision's Bottleneck (ResNet-50/101/152, "v1.5": the stride is on the
// 3x3 convolution): 1x1 reduce, 3x3, 1x1 expand, and a residual shortcut.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <cstdint>

namespace labrun::resnet {

class BottleneckImpl : public torch::nn::Module {
 public:
  // Output channels = channels * kExpansion.
  static constexpr std::int64_t kExpansion = 4;

  BottleneckImpl(std::int64_t in_channels, std::int64_t channels,
                 std::int64_t stride);
  // x: [B, in_channels, H, W] -> [B, 4 * channels, H / stride, W / stride]
  torch::Tensor forward(torch::Tensor x);

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr}, bn3_{nullptr};
  torch::nn::Sequential downsample_{nullptr};
};
TORCH_MODULE(Bottleneck);

}  // namespace labrun::resnet
