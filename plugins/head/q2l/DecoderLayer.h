// DETR's TransformerDecoderLayer as Query2Label releases it
// (transformer.py:250-331, Alibaba-MIIL/ASL's copy at ae77632): optional
// self-attention over the label queries (the released code deletes it,
// with norm1, unless kept: :60-72), cross-attention from the queries to the
// feature map (query position added to the queries, the map's position
// encoding to the keys), a ReLU feed-forward block; dropout, residual and
// LayerNorm around each, post-norm or pre_norm. Parameter names as
// released: self_attn.*, norm1 (when kept), multihead_attn.*, linear1,
// linear2, norm2, norm3.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include "TransformerOptions.h"

namespace labrun::q2l {

class DecoderLayerImpl : public torch::nn::Module {
 public:
  // self_attn: whether this layer keeps its self-attention block. pre_norm
  // needs it (the released forward_pre uses it unconditionally).
  DecoderLayerImpl(const TransformerOptions& options, bool self_attn);

  // tgt, query_pos: [K, B, d]; memory, pos: [S, B, d] -> [K, B, d].
  torch::Tensor forward(const torch::Tensor& tgt, const torch::Tensor& memory,
                        const torch::Tensor& pos,
                        const torch::Tensor& query_pos);

 private:
  double dropout_;
  bool pre_norm_;
  torch::nn::MultiheadAttention self_attn_{nullptr};
  torch::nn::LayerNorm norm1_{nullptr};
  torch::nn::MultiheadAttention multihead_attn_;
  torch::nn::Linear linear1_, linear2_;
  torch::nn::LayerNorm norm2_, norm3_;
};
TORCH_MODULE(DecoderLayer);

}  // namespace labrun::q2l
