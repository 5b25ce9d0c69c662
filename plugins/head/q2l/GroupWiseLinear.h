// The released Query2Label output layer (query2label.py:19-47,
// GroupWiseLinear): one linear classifier per class on that class's
// decoder output.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>

namespace labrun::q2l {

class GroupWiseLinearImpl : public torch::nn::Module {
 public:
  // Parameters "W" [1, K, d] and "b" [1, K] (the released names and shapes),
  // uniform in +-1/sqrt(d) as released.
  GroupWiseLinearImpl(std::int64_t classes, std::int64_t features);

  // inputs [B, K, d] -> [B, K]: out[b, k] = W[0, k] . in[b, k] + b[0, k].
  torch::Tensor forward(const torch::Tensor& inputs);

 private:
  torch::Tensor weight_, bias_;
};
TORCH_MODULE(GroupWiseLinear);

}  // namespace labrun::q2l
