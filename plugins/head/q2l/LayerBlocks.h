// Blocks that the encoder and decoder layers share (DETR's transformer.py,
// as Query2Label releases it).
#pragma once

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

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

// norm(x) in the norm's dtype. Under train.precision bf16 on the CPU,
// LibTorch 1.13's autocast hands layer_norm its inputs as they come (CUDA
// autocast runs it in float32) and the CPU kernel wants the weight's dtype,
// so x is cast to it, as CUDA autocast would.
torch::Tensor normalize(torch::nn::LayerNorm& norm, const torch::Tensor& x);

}  // namespace labrun::q2l
