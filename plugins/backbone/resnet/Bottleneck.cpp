#include "Bottleneck.h"

#include <torch/torch.h>

#include "Layers.h"

namespace labrun::resnet {

BottleneckImpl::BottleneckImpl(std::int64_t in_channels, std::int64_t channels,
                               std::int64_t stride) {
  // Registered in torchvision's order, so state dicts list keys alike.
  const std::int64_t out_channels = channels * kExpansion;
  conv1_ = register_module("conv1", conv1x1(in_channels, channels));
  bn1_ = register_module("bn1", torch::nn::BatchNorm2d(channels));
  conv2_ = register_module("conv2", conv3x3(channels, channels, stride));
  bn2_ = register_module("bn2", torch::nn::BatchNorm2d(channels));
  conv3_ = register_module("conv3", conv1x1(channels, out_channels));
  bn3_ = register_module("bn3", torch::nn::BatchNorm2d(out_channels));
  downsample_ = shortcut(in_channels, out_channels, stride);
  if (downsample_) register_module("downsample", downsample_);
}

torch::Tensor BottleneckImpl::forward(torch::Tensor x) {
  torch::Tensor out = bn1_->forward(conv1_->forward(x)).relu_();
  out = bn2_->forward(conv2_->forward(out)).relu_();
  out = bn3_->forward(conv3_->forward(out));
  out += downsample_ ? downsample_->forward(x) : x;
  return out.relu_();
}

}  // namespace labrun::resnet
