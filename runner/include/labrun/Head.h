// A head turns a backbone feature map into one logit per class.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

namespace labrun {

class Head : public torch::nn::Module {
 public:
  // features: [B, C, h, w] float32 with C = ModelContext::in_channels.
  // returns: logits [B, K] float32, K = ModelContext::num_classes.
  virtual torch::Tensor forward(torch::Tensor features) = 0;
};

}  // namespace labrun
