#include "Transformer.h"

#include <torch/torch.h>

#include "LayerBlocks.h"

namespace labrun::q2l {

TransformerImpl::TransformerImpl(const TransformerOptions& options) {
  const torch::nn::LayerNormOptions norm({options.hidden_dim});
  // Plain containers, for the released names encoder.* and decoder.*.
  auto encoder =
      register_module("encoder", std::make_shared<torch::nn::Module>());
  auto encoder_layers =
      encoder->register_module("layers", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < options.enc_layers; ++i) {
    encoder_layers_.emplace_back(options);
    encoder_layers->push_back(encoder_layers_.back());
  }
  // The released code builds this norm with pre_norm even without encoder
  // layers (and then never uses it): checkpoints hold it.
  if (options.pre_norm) {
    encoder_norm_ =
        encoder->register_module("norm", torch::nn::LayerNorm(norm));
  }
  auto decoder =
      register_module("decoder", std::make_shared<torch::nn::Module>());
  auto decoder_layers =
      decoder->register_module("layers", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < options.dec_layers; ++i) {
    decoder_layers_.emplace_back(options, i == 0
                                              ? options.keep_first_self_attn
                                              : options.keep_other_self_attn);
    decoder_layers->push_back(decoder_layers_.back());
  }
  decoder_norm_ = decoder->register_module("norm", torch::nn::LayerNorm(norm));

  torch::NoGradGuard no_grad;
  for (auto& parameter : parameters()) {
    if (parameter.dim() > 1) torch::nn::init::xavier_uniform_(parameter);
  }
}

torch::Tensor TransformerImpl::forward(const torch::Tensor& src,
                                       const torch::Tensor& queries,
                                       const torch::Tensor& pos) {
  // Sequence-first [length, B, d], as nn.MultiheadAttention takes it.
  const std::int64_t batch = src.size(0);
  torch::Tensor memory = src.flatten(/*start_dim=*/2).permute({2, 0, 1});
  const torch::Tensor position =
      pos.flatten(/*start_dim=*/1).t().unsqueeze(1).expand({-1, batch, -1});
  const torch::Tensor query_pos = queries.unsqueeze(1).expand({-1, batch, -1});
  for (auto& layer : encoder_layers_) memory = layer->forward(memory, position);
  if (!encoder_layers_.empty() && !encoder_norm_.is_empty()) {
    memory = normalize(encoder_norm_, memory);
  }
  torch::Tensor out = torch::zeros_like(query_pos);
  for (auto& layer : decoder_layers_) {
    out = layer->forward(out, memory, position, query_pos);
  }
  return normalize(decoder_norm_, out).transpose(0, 1);
}

}  // namespace labrun::q2l
