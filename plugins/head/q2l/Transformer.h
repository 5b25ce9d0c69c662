// The Query2Label transformer (transformer.py:24-181, Alibaba-MIIL/ASL's
// copy at ae77632 of SlongLiu/query2labels): DETR's encoder over the feature
// map (skipped with 0 layers; a final LayerNorm only with pre_norm), then
// the decoder, whose queries start at zero with the label embeddings as
// their position, and a final LayerNorm. Parameter names as released:
// encoder.layers.{i}.*, encoder.norm.* (pre_norm), decoder.layers.{i}.*,
// decoder.norm.*. Every parameter with more than one dimension is
// initialised xavier-uniform, as the released _reset_parameters does.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <vector>

#include "DecoderLayer.h"
#include "EncoderLayer.h"
#include "TransformerOptions.h"

namespace labrun::q2l {

class TransformerImpl : public torch::nn::Module {
 public:
  explicit TransformerImpl(const TransformerOptions& options);

  // src [B, d, h, w]; queries [K, d]; pos [d, h, w] -> [B, K, d], the
  // normalised output of the last decoder layer.
  torch::Tensor forward(const torch::Tensor& src, const torch::Tensor& queries,
                        const torch::Tensor& pos);

 private:
  std::vector<EncoderLayer> encoder_layers_;
  torch::nn::LayerNorm encoder_norm_{nullptr};  // pre_norm only
  std::vector<DecoderLayer> decoder_layers_;
  torch::nn::LayerNorm decoder_norm_{nullptr};
};
TORCH_MODULE(Transformer);

}  // namespace labrun::q2l
