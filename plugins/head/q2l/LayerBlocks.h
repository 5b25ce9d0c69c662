// Blocks that the encoder and decoder layers share (DETR's transformer.py,
// as Query2Label releases it).
#pragma once

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/linear.h>

#include "TransformerOptions.h"

namespace labrun::q2l {

// nn.MultiheadAttention(hidden_dim, num_heads, dropout=dropout).
torch::nn::MultiheadAttentionOptions attentionOptions(
    const TransformerOptions& options);

// attention(query, key, value)[0], inputs [length, batch, d]; the weights
// are not averaged out (not needed).
torch::Tensor attend(torch::nn::MultiheadAttention& attention,
                     const torch::Tensor& query, const torch::Tensor& key,
                     const torch::Tensor& value);

// linear2(dropout(relu(linear1(x)))).
torch::Tensor feedForward(torch::nn::Linear& linear1,
                          torch::nn::Linear& linear2, const torch::Tensor& x,
                          double dropout, bool training);

}  // namespace labrun::q2l
