#include "SemanticDecoupling.h"

#include <torch/torch.h>

#include "LowRankBilinearScore.h"

namespace labrun::ssgrl {

SemanticDecouplingImpl::SemanticDecouplingImpl(std::int64_t image_dim,
                                               std::int64_t word_dim,
                                               std::int64_t attention_dim)
    : fc_1_(torch::nn::LinearOptions(image_dim, attention_dim).bias(false)),
      fc_2_(torch::nn::LinearOptions(word_dim, attention_dim).bias(false)),
      fc_3_(attention_dim, attention_dim),
      fc_a_(attention_dim, 1) {
  register_module("fc_1", fc_1_);
  register_module("fc_2", fc_2_);
  register_module("fc_3", fc_3_);
  register_module("fc_a", fc_a_);
}

torch::Tensor SemanticDecouplingImpl::forward(const torch::Tensor& features,
                                              const torch::Tensor& words) {
  const torch::Tensor locations = features.flatten(2).transpose(1, 2);
  const torch::Tensor u = fc_1_->forward(locations);  // [B, S, D]
  const torch::Tensor v = fc_2_->forward(words);      // [K, D]
  const torch::Tensor w =
      torch::matmul(fc_a_->weight, fc_3_->weight).view({-1});  // [D]
  // The same for every location and class: the softmax cancels it, but it
  // keeps the function (and the zero gradients of the biases) identical.
  const torch::Tensor bias = fc_a_->forward(fc_3_->bias);  // [1]
  const torch::Tensor attention =
      torch::softmax(lowRankBilinearScore(u, v, w) + bias, /*dim=*/2);
  return torch::bmm(attention, locations);  // [B, K, S] x [B, S, C]
}

torch::Tensor SemanticDecouplingImpl::forwardDirect(
    const torch::Tensor& features, const torch::Tensor& words) {
  const std::int64_t batch = features.size(0), channels = features.size(1);
  const std::int64_t height = features.size(2), width = features.size(3);
  const std::int64_t locations = height * width, classes = words.size(0);
  const std::int64_t dim = fc_3_->weight.size(0);
  const torch::Tensor image = features.permute({0, 2, 3, 1}).contiguous();
  const torch::Tensor u = fc_1_->forward(image.view({-1, channels}))
                              .view({batch * locations, 1, dim})
                              .repeat({1, classes, 1});
  const torch::Tensor v = fc_2_->forward(words)
                              .view({1, classes, dim})
                              .repeat({batch * locations, 1, 1});
  const torch::Tensor pairs =
      fc_3_->forward(torch::tanh(u * v).view({-1, dim}));
  const torch::Tensor scores = fc_a_->forward(pairs)
                                   .view({batch, height, width, classes})
                                   .permute({0, 3, 1, 2})
                                   .reshape({batch, classes, locations});
  const torch::Tensor attention =
      torch::softmax(scores, /*dim=*/2)
          .view({batch, classes, height, width})
          .permute({0, 2, 3, 1})
          .reshape({batch, height, width, classes, 1})
          .repeat({1, 1, 1, 1, channels});
  const torch::Tensor weighted = image.view({batch, height, width, 1, channels})
                                     .repeat({1, 1, 1, classes, 1}) *
                                 attention;
  return weighted.sum(1).sum(1);
}

}  // namespace labrun::ssgrl
