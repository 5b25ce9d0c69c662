// A backbone turns images into a spatial feature map.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

namespace labrun {

class Backbone : public torch::nn::Module {
 public:
  // images: [B, 3, H, W] float32, normalised.
  // returns: [B, outChannels(), h, w] float32 (h, w depend on the stride).
  virtual torch::Tensor forward(torch::Tensor images) = 0;
  // Channels of the returned feature map; the host wires the head from it.
  virtual std::int64_t outChannels() const = 0;
};

}  // namespace labrun
