// The SSGRL head (Chen et al., "Learning Semantic-Specific Graph
// Representation for Multi-Label Image Recognition", ICCV 2019): semantic
// decoupling -> GGNN over class nodes -> per-class classifiers.
//
// Parameter names are the released model's (HCPLab-SYSU/SSGRL models.py):
//   word_semantic.fc_1.weight, word_semantic.fc_2.weight,
//   word_semantic.fc_3.{weight,bias}, word_semantic.fc_a.{weight,bias},
//   graph_net.fc_eq{3,4,5}_{w,u}.{weight,bias}, fc_output.{weight,bias},
//   classifiers.{weight,bias}.
// A released checkpoint therefore feeds both plugins (the `weights` option
// of each): the resnet backbone takes "resnet_101.X" (`weights_prefix:
// resnet_101.`, torchvision names, `extra_pool: 2` for the released
// ResNet's 2x2 average pooling after layer4), this head every other key
// (loadStateDict); evaluate it with `compat: released`. The head's two
// buffers, "word_features" and "graph_net.in_matrix", are not in released
// checkpoints (the released code kept them as plain attributes): they come
// from the `embeddings` and `adjacency` options, which must name the files
// the checkpoint was trained with, and an import leaves them as built.
#pragma once

#include <torch/nn/modules/linear.h>

#include <cstdint>
#include <string>

#include "ClassWiseLinear.h"
#include "Ggnn.h"
#include "SemanticDecoupling.h"
#include "labrun/Head.h"
#include "labrun/ModelContext.h"

namespace labrun::ssgrl {

struct SsgrlHeadOptions {
  std::int64_t in_channels = 2048;    // C: backbone channels = node state
  std::int64_t attention_dim = 1024;  // D: low-rank bilinear dimension
  std::int64_t output_dim = 2048;     // o_c size before the classifiers
  std::int64_t time_steps = 3;        // GGNN propagation steps
  // The first released code's reset gate (see Ggnn); parameters are named
  // as the released model's either way.
  bool released_reset_gate = false;
  // Semantic decoupling computed as released and the GGNN through autograd
  // (slow; reference/benchmarks).
  bool direct = false;
  // false: no semantic decoupling (the paper's ablation): every class node
  // starts from the globally average-pooled feature; no word_semantic.
  bool decoupling = true;
};

class SsgrlHead : public Head {
 public:
  // words: [K, E] word embeddings; adjacency: [K, K] in-edge matrix. Both
  // become buffers ("word_features", "graph_net.in_matrix").
  SsgrlHead(const SsgrlHeadOptions& options, torch::Tensor words,
            torch::Tensor adjacency);

  // features: [B, C, h, w] -> logits [B, K]:
  //   h0 = decoupling(features) [B, K, C] (or the pooled feature for
  //   every k without decoupling), hT = GGNN(h0),
  //   o = tanh(fc_output([hT, h0])) [B, K, output_dim],
  //   logits[b, k] = classifiers.weight[k] . o[b, k] + classifiers.bias[k].
  torch::Tensor forward(torch::Tensor features) override;

  // Copies the head's parameters from a state dict under the names above
  // (e.g. a released SSGRL state_dict). Keys outside the head's modules
  // (word_semantic, graph_net, fc_output, classifiers: e.g. "resnet_101.*")
  // and the two buffers are left alone; a missing, unexpected (inside the
  // head's modules) or mis-shaped parameter throws std::runtime_error
  // naming `source` and listing the keys, before anything is copied.
  void loadStateDict(const StateDict& state, const std::string& source);

  // The released model's: the backbone under "resnet_101.", the head's keys
  // as they are (the two buffers included, which the released model keeps
  // as attributes: a Python user takes them out before load_state_dict).
  ExportLayout exportLayout() const override {
    return {/*name=*/"ssgrl-released", /*backbone_prefix=*/"resnet_101.",
            /*head_renames=*/{}, /*head_prefix=*/""};
  }

 private:
  // h0 [B, K, C]: the decoupled class features, or the pooled feature.
  torch::Tensor initialNodes(const torch::Tensor& features);

  bool direct_;
  std::int64_t num_classes_;
  torch::Tensor word_features_;
  SemanticDecoupling word_semantic_{nullptr};  // null without decoupling
  Ggnn graph_net_;
  torch::nn::Linear fc_output_;
  ClassWiseLinear classifiers_;
};

}  // namespace labrun::ssgrl
