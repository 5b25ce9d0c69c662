// SSGRL's semantic decoupling: for every class, an attention map over the
// feature-map locations guided by the class's word embedding, and the
// attention-weighted sum of the features (Chen et al., ICCV 2019, eq. 1-3).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cstdint>

namespace labrun::ssgrl {

class SemanticDecouplingImpl : public torch::nn::Module {
 public:
  // Module names follow the released code (semantic.py):
  //   fc_1: image_dim -> attention_dim, no bias      (U)
  //   fc_2: word_dim -> attention_dim, no bias       (V)
  //   fc_3: attention_dim -> attention_dim           (P)
  //   fc_a: attention_dim -> 1                       (f_a)
  SemanticDecouplingImpl(std::int64_t image_dim, std::int64_t word_dim,
                         std::int64_t attention_dim);

  // features: [B, C, h, w]; words: [K, E] -> class features [B, K, C]:
  //   score[b,k,s] = f_a(P tanh(U f[b,s] * V words[k])),
  //   out[b,k] = sum_s softmax_s(score[b,k,:])[s] f[b,s].
  // fc_3 and fc_a are linear with nothing between them, so they fold into
  // one vector w = fc_a.W fc_3.W (and a constant, which the softmax keeps);
  // U f is computed once per location and V words once per class.
  torch::Tensor forward(const torch::Tensor& features,
                        const torch::Tensor& words);

  // The same function computed as the released code does: fc_3 and fc_a
  // applied to every (location, class) pair, features repeated per class.
  // [B*S, K, D] and [B, h, w, K, C] tensors: slow and memory hungry; kept as
  // the reference and for benchmarks.
  torch::Tensor forwardDirect(const torch::Tensor& features,
                              const torch::Tensor& words);

 private:
  torch::nn::Linear fc_1_, fc_2_, fc_3_, fc_a_;
};
TORCH_MODULE(SemanticDecoupling);

}  // namespace labrun::ssgrl
