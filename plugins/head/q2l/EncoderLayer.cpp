#include "EncoderLayer.h"

#include <torch/torch.h>

#include "LayerBlocks.h"

namespace labrun::q2l {

EncoderLayerImpl::EncoderLayerImpl(const TransformerOptions& options)
    : dropout_(options.dropout),
      pre_norm_(options.pre_norm),
      self_attn_(attentionOptions(options)),
      linear1_(options.hidden_dim, options.dim_feedforward),
      linear2_(options.dim_feedforward, options.hidden_dim),
      norm1_(torch::nn::LayerNormOptions({options.hidden_dim})),
      norm2_(torch::nn::LayerNormOptions({options.hidden_dim})) {
  register_module("self_attn", self_attn_);
  register_module("linear1", linear1_);
  register_module("linear2", linear2_);
  register_module("norm1", norm1_);
  register_module("norm2", norm2_);
}

torch::Tensor EncoderLayerImpl::forward(const torch::Tensor& src,
                                        const torch::Tensor& pos) {
  const bool training = is_training();
  const auto drop = [&](const torch::Tensor& x) {
    return torch::dropout(x, dropout_, training);
  };
  if (pre_norm_) {  // forward_pre, transformer.py:226-239
    const torch::Tensor normed = normalize(norm1_, src);
    const torch::Tensor keyed = normed + pos;
    const torch::Tensor out =
        src + drop(attend(self_attn_, keyed, keyed, normed));
    return out + drop(feedForward(linear1_, linear2_, normalize(norm2_, out),
                                  dropout_, training));
  }
  // forward_post, transformer.py:209-224
  const torch::Tensor keyed = src + pos;
  const torch::Tensor out =
      normalize(norm1_, src + drop(attend(self_attn_, keyed, keyed, src)));
  return normalize(norm2_, out + drop(feedForward(linear1_, linear2_, out,
                                                  dropout_, training)));
}

}  // namespace labrun::q2l
