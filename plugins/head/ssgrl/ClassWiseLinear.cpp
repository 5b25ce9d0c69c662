#include "ClassWiseLinear.h"

#include <torch/torch.h>

#include <cmath>

namespace labrun::ssgrl {

ClassWiseLinearImpl::ClassWiseLinearImpl(std::int64_t classes,
                                         std::int64_t features) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(features));
  weight_ = register_parameter(
      "weight", torch::empty({classes, features}).uniform_(-bound, bound));
  bias_ = register_parameter("bias",
                             torch::empty({classes}).uniform_(-bound, bound));
}

torch::Tensor ClassWiseLinearImpl::forward(const torch::Tensor& inputs) {
  return (inputs * weight_).sum(/*dim=*/2) + bias_;
}

}  // namespace labrun::ssgrl
