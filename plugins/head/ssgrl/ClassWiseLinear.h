// One linear classifier per class, each on its own class's feature vector
// (the released SSGRL's Element_Wise_Layer).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>

namespace labrun::ssgrl {

class ClassWiseLinearImpl : public torch::nn::Module {
 public:
  // Parameters "weight" [K, features] and "bias" [K], initialised uniform in
  // +-1/sqrt(features) as the released code does.
  ClassWiseLinearImpl(std::int64_t classes, std::int64_t features);

  // inputs: [B, K, features] -> [B, K], out[b,k] = weight[k] . in[b,k] +
  // bias[k]
  torch::Tensor forward(const torch::Tensor& inputs);

 private:
  torch::Tensor weight_, bias_;
};
TORCH_MODULE(ClassWiseLinear);

}  // namespace labrun::ssgrl
