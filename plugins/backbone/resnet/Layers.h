// Convolutions and the shortcut projection shared by torchvision's ResNet
// blocks (bias-free convolutions: a BatchNorm always follows).
#pragma once

#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>

#include <cstdint>

namespace labrun::resnet {

// 3x3 convolution, padding 1: [B, in, H, W] -> [B, out, H/stride, W/stride].
torch::nn::Conv2d conv3x3(std::int64_t in_channels, std::int64_t out_channels,
                          std::int64_t stride = 1);

// 1x1 convolution: [B, in, H, W] -> [B, out, H/stride, W/stride].
torch::nn::Conv2d conv1x1(std::int64_t in_channels, std::int64_t out_channels,
                          std::int64_t stride = 1);

// torchvision's `downsample` (conv1x1 + BatchNorm, children "0" and "1")
// when a block changes the shape, else an empty holder.
torch::nn::Sequential shortcut(std::int64_t in_channels,
                               std::int64_t out_channels, std::int64_t stride);

}  // namespace labrun::resnet
