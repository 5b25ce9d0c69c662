// The Query2Label head (Liu et al., "Query2Label: A Simple Transformer Way
// to Multi-Label Classification", 2021), as released
// (SlongLiu/query2labels lib/models/query2label.py:50-107): an optional 1x1
// input projection of the backbone's map, a transformer whose decoder
// queries are learnt label embeddings, over the map with a sine position
// encoding, and one linear classifier per label.
//
// Parameter names are the released model's: input_proj.{weight,bias}
// (only with keep_input_proj: the released COCO models have none),
// transformer.encoder.*, transformer.decoder.*, query_embed.weight,
// fc.{W,b}. A released checkpoint's other keys (backbone.0.body.*: the
// ResNet under torchvision's names, for the resnet backbone's
// `weights_prefix: backbone.0.body.`; backbone.1.pe, the position buffer
// that this head computes) are left alone.
#pragma once

#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>

#include <cstdint>
#include <string>

#include "GroupWiseLinear.h"
#include "Transformer.h"
#include "TransformerOptions.h"
#include "labrun/Head.h"
#include "labrun/ModelContext.h"

namespace labrun::q2l {

struct Query2LabelOptions {
  TransformerOptions transformer;
  std::int64_t in_channels = 2048;  // the backbone's channels
  std::int64_t num_classes = 80;    // K: one query per label
  // A 1x1 convolution in_channels -> hidden_dim before the transformer
  // (keep_input_proj); without it in_channels must equal hidden_dim.
  bool input_proj = false;
};

class Query2LabelHead : public Head {
 public:
  explicit Query2LabelHead(const Query2LabelOptions& options);

  // features [B, C, h, w] -> logits [B, K].
  torch::Tensor forward(torch::Tensor features) override;

  // Copies the head's parameters from a state dict under the released
  // names; keys outside input_proj, transformer, query_embed and fc are
  // ignored. A missing, unexpected or mis-shaped key throws
  // std::runtime_error naming `source`, before anything is copied.
  void loadStateDict(const StateDict& state, const std::string& source);

 private:
  torch::nn::Conv2d input_proj_{nullptr};  // null without input_proj
  Transformer transformer_;
  torch::nn::Embedding query_embed_;
  GroupWiseLinear fc_;
};

}  // namespace labrun::q2l
