#include "GroupWiseLinear.h"

#include <torch/torch.h>

#include <cmath>

namespace labrun::q2l {

GroupWiseLinearImpl::GroupWiseLinearImpl(std::int64_t classes,
                                         std::int64_t features) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(features));
  weight_ = register_parameter(
      "W", torch::empty({1, classes, features}).uniform_(-bound, bound));
  bias_ = register_parameter(
      "b", torch::empty({1, classes}).uniform_(-bound, bound));
}

torch::Tensor GroupWiseLinearImpl::forward(const torch::Tensor& inputs) {
  return (weight_ * inputs).sum(/*dim=*/-1) + bias_;
}

}  // namespace labrun::q2l
