// SSGRL's semantic interaction: a gated graph neural network over the class
// nodes (Li et al., ICLR 2016; Chen et al., ICCV 2019, eq. 4-6).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <optional>

namespace labrun::ssgrl {

class GgnnImpl : public torch::nn::Module {
 public:
  // adjacency: [K, K], adjacency[c, c'] weighs the message c' sends to c
  // along the in-edges (e.g. P(c' | c)); out-edges use its transpose.
  // With `released_reset_gate`, the reset gate uses the update gate's
  // recurrent weights (fc_eq3_u), as the first released SSGRL code does;
  // fc_eq4_u then exists (so released state_dicts load) but is unused.
  // Module names follow the released ggnn.py; the adjacency is the buffer
  // "in_matrix".
  GgnnImpl(std::int64_t dim, std::int64_t time_steps, torch::Tensor adjacency,
           bool released_reset_gate);

  // nodes: [B, K, dim] (h^0) -> [B, K, dim] (h^T). Per step:
  //   a = [A h ; A^T h]                        [B, K, 2 dim]
  //   z = sigmoid(W_z a + U_z h)
  //   r = sigmoid(W_r a + U_r h)               (U_z h when released)
  //   h = (1 - z) h + z tanh(W a + U (r h))
  // With a hand-written backward that computes each weight's gradient once
  // for all steps (one product over T*B*K rows, no per-step [dim, 2 dim]
  // gradients summed in autograd buffers) and, when released, U_z's
  // gradient from the summed gates. On CUDA the three gates' products of
  // a (and z's and r's of h) run as one product per step over concatenated
  // weights; on the CPU as one product each. Differentiable once.
  torch::Tensor forward(const torch::Tensor& nodes);

  // How forward computes the gates' products: as on this device (nullopt),
  // or over concatenated weights (true) or not (false) on any device, so
  // that both ways are tested anywhere.
  void setConcatenatedGates(std::optional<bool> concatenated) {
    concatenated_gates_ = concatenated;
  }

  // The same function through autograd, one Linear call per gate and step
  // (the reference for the tests; `impl: direct`).
  torch::Tensor forwardDirect(torch::Tensor nodes);

 private:
  std::int64_t time_steps_;
  bool released_reset_gate_;
  std::optional<bool> concatenated_gates_;
  torch::Tensor in_matrix_;
  torch::nn::Linear fc_eq3_w_, fc_eq3_u_, fc_eq4_w_, fc_eq4_u_, fc_eq5_w_,
      fc_eq5_u_;
};
TORCH_MODULE(Ggnn);

}  // namespace labrun::ssgrl
