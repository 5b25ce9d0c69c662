// A multi-label loss.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

namespace labrun {

class Loss : public torch::nn::Module {
 public:
  // logits: [B, K] float32; targets: [B, K] float32 in {0, 1};
  // mask: [B, K] float32, 1 where the label counts, 0 where it is ignored.
  // returns: a scalar float32 tensor.
  virtual torch::Tensor forward(torch::Tensor logits, torch::Tensor targets,
                                torch::Tensor mask) = 0;
};

}  // namespace labrun
