#include "Layers.h"

#include <torch/torch.h>

namespace labrun::resnet {

torch::nn::Conv2d conv3x3(std::int64_t in_channels, std::int64_t out_channels,
                          std::int64_t stride) {
  return torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in_channels, out_channels, /*kernel_size=*/3)
          .stride(stride)
          .padding(1)
          .bias(false));
}

torch::nn::Conv2d conv1x1(std::int64_t in_channels, std::int64_t out_channels,
                          std::int64_t stride) {
  return torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in_channels, out_channels, /*kernel_size=*/1)
          .stride(stride)
          .bias(false));
}

torch::nn::Sequential shortcut(std::int64_t in_channels,
                               std::int64_t out_channels, std::int64_t stride) {
  if (stride == 1 && in_channels == out_channels) return nullptr;
  return torch::nn::Sequential(conv1x1(in_channels, out_channels, stride),
                               torch::nn::BatchNorm2d(out_channels));
}

}  // namespace labrun::resnet
