#include "LayerBlocks.h"

#include <torch/torch.h>

namespace labrun::q2l {

torch::nn::MultiheadAttentionOptions attentionOptions(
    const TransformerOptions& options) {
  return torch::nn::MultiheadAttentionOptions(options.hidden_dim,
                                              options.num_heads)
      .dropout(options.dropout);
}

torch::Tensor attend(torch::nn::MultiheadAttention& attention,
                     const torch::Tensor& query, const torch::Tensor& key,
                     const torch::Tensor& value) {
  return std::get<0>(attention->forward(query, key, value,
                                        /*key_padding_mask=*/{},
                                        /*need_weights=*/false));
}

torch::Tensor feedForward(torch::nn::Linear& linear1,
                          torch::nn::Linear& linear2, const torch::Tensor& x,
                          double dropout, bool training) {
  return linear2->forward(
      torch::dropout(torch::relu(linear1->forward(x)), dropout, training));
}

torch::Tensor normalize(torch::nn::LayerNorm& norm, const torch::Tensor& x) {
  return norm->forward(x.to(norm->weight.scalar_type()));
}

}  // namespace labrun::q2l
