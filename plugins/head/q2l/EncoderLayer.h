// DETR's TransformerEncoderLayer as Query2Label releases it
// (transformer.py:184-247, Alibaba-MIIL/ASL's copy at ae77632): self-attention
// with the position encoding added to queries and keys (not values), then a
// ReLU feed-forward block; each with dropout, a residual and a LayerNorm,
// after (post-norm) or before (pre_norm). Parameter names as released:
// self_attn.{in_proj_weight,in_proj_bias,out_proj.*}, linear1, linear2,
// norm1, norm2.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include "TransformerOptions.h"

namespace labrun::q2l {

class EncoderLayerImpl : public torch::nn::Module {
 public:
  explicit EncoderLayerImpl(const TransformerOptions& options);

  // src, pos: [S, B, d] -> [S, B, d].
  torch::Tensor forward(const torch::Tensor& src, const torch::Tensor& pos);

 private:
  double dropout_;
  bool pre_norm_;
  torch::nn::MultiheadAttention self_attn_;
  torch::nn::Linear linear1_, linear2_;
  torch::nn::LayerNorm norm1_, norm2_;
};
TORCH_MODULE(EncoderLayer);

}  // namespace labrun::q2l
