#include "BasicBlock.h"

#include <torch/torch.h>

#include "Layers.h"

namespace labrun::resnet {

BasicBlockImpl::BasicBlockImpl(std::int64_t in_channels, std::int64_t channels,
                               std::int64_t stride) {
  // Registered in torchvision's order, so state dicts list keys alike.
  conv1_ = register_module("conv1", conv3x3(in_channels, channels, stride));
  bn1_ = register_module("bn1", torch::nn::BatchNorm2d(channels));
  conv2_ = register_module("conv2", conv3x3(channels, channels));
  bn2_ = register_module("bn2", torch::nn::BatchNorm2d(channels));
  downsample_ = shortcut(in_channels, channels * kExpansion, stride);
  if (downsample_) register_module("downsample", downsample_);
}

torch::Tensor BasicBlockImpl::forward(torch::Tensor x) {
  torch::Tensor out = bn1_->forward(conv1_->forward(x)).relu_();
  out = bn2_->forward(conv2_->forward(out));
  out += downsample_ ? downsample_->forward(x) : x;
  return out.relu_();
}

}  // namespace labrun::resnet
