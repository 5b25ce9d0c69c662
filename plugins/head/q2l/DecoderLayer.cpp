#include "DecoderLayer.h"

#include <torch/torch.h>

#include "LayerBlocks.h"

namespace labrun::q2l {

DecoderLayerImpl::DecoderLayerImpl(const TransformerOptions& options,
                                   bool self_attn)
    : dropout_(options.dropout),
      pre_norm_(options.pre_norm),
      multihead_attn_(attentionOptions(options)),
      linear1_(options.hidden_dim, options.dim_feedforward),
      linear2_(options.dim_feedforward, options.hidden_dim),
      norm2_(torch::nn::LayerNormOptions({options.hidden_dim})),
      norm3_(torch::nn::LayerNormOptions({options.hidden_dim})) {
  // The released forward_pre runs the self-attention unconditionally.
  TORCH_CHECK(self_attn || !pre_norm_,
              "a pre-norm decoder layer needs its self-attention");
  if (self_attn) {
    self_attn_ = register_module(
        "self_attn", torch::nn::MultiheadAttention(attentionOptions(options)));
    norm1_ = register_module(
        "norm1", torch::nn::LayerNorm(
                     torch::nn::LayerNormOptions({options.hidden_dim})));
  }
  register_module("multihead_attn", multihead_attn_);
  register_module("linear1", linear1_);
  register_module("linear2", linear2_);
  register_module("norm2", norm2_);
  register_module("norm3", norm3_);
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& tgt,
                                        const torch::Tensor& memory,
                                        const torch::Tensor& pos,
                                        const torch::Tensor& query_pos) {
  const bool training = is_training();
  const auto drop = [&](const torch::Tensor& x) {
    return torch::dropout(x, dropout_, training);
  };
  const torch::Tensor keys = memory + pos;
  if (pre_norm_) {  // forward_pre, transformer.py:308-331
    torch::Tensor normed = normalize(norm1_, tgt);
    torch::Tensor queried = normed + query_pos;
    torch::Tensor out =
        tgt + drop(attend(self_attn_, queried, queried, normed));
    normed = normalize(norm2_, out);
    out = out + drop(attend(multihead_attn_, normed + query_pos, keys, memory));
    return out + drop(feedForward(linear1_, linear2_, normalize(norm3_, out),
                                  dropout_, training));
  }
  // forward_post, transformer.py:279-306
  torch::Tensor out = tgt;
  if (!self_attn_.is_empty()) {
    const torch::Tensor queried = out + query_pos;
    out = normalize(norm1_,
                    out + drop(attend(self_attn_, queried, queried, out)));
  }
  out = normalize(norm2_, out + drop(attend(multihead_attn_, out + query_pos,
                                            keys, memory)));
  return normalize(norm3_, out + drop(feedForward(linear1_, linear2_, out,
                                                  dropout_, training)));
}

}  // namespace labrun::q2l
