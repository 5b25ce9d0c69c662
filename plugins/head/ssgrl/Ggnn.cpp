#include "Ggnn.h"

#include <torch/torch.h>

namespace labrun::ssgrl {

GgnnImpl::GgnnImpl(std::int64_t dim, std::int64_t time_steps,
                   torch::Tensor adjacency, bool released_reset_gate)
    : time_steps_(time_steps),
      released_reset_gate_(released_reset_gate),
      fc_eq3_w_(2 * dim, dim),
      fc_eq3_u_(dim, dim),
      fc_eq4_w_(2 * dim, dim),
      fc_eq4_u_(dim, dim),
      fc_eq5_w_(2 * dim, dim),
      fc_eq5_u_(dim, dim) {
  TORCH_CHECK(adjacency.dim() == 2 && adjacency.size(0) == adjacency.size(1),
              "Ggnn: adjacency must be [K, K], got ", adjacency.sizes());
  in_matrix_ = register_buffer("in_matrix", std::move(adjacency));
  register_module("fc_eq3_w", fc_eq3_w_);
  register_module("fc_eq3_u", fc_eq3_u_);
  register_module("fc_eq4_w", fc_eq4_w_);
  register_module("fc_eq4_u", fc_eq4_u_);
  register_module("fc_eq5_w", fc_eq5_w_);
  register_module("fc_eq5_u", fc_eq5_u_);
}

torch::Tensor GgnnImpl::forward(torch::Tensor nodes) {
  const torch::Tensor out_matrix = in_matrix_.t();
  for (std::int64_t step = 0; step < time_steps_; ++step) {
    const torch::Tensor messages = torch::cat(
        {torch::matmul(in_matrix_, nodes), torch::matmul(out_matrix, nodes)},
        /*dim=*/2);
    const torch::Tensor update_u = fc_eq3_u_->forward(nodes);
    const torch::Tensor update =
        torch::sigmoid(fc_eq3_w_->forward(messages) + update_u);
    const torch::Tensor reset = torch::sigmoid(
        fc_eq4_w_->forward(messages) +
        (released_reset_gate_ ? update_u : fc_eq4_u_->forward(nodes)));
    const torch::Tensor candidate = torch::tanh(
        fc_eq5_w_->forward(messages) + fc_eq5_u_->forward(reset * nodes));
    nodes = (1 - update) * nodes + update * candidate;
  }
  return nodes;
}

}  // namespace labrun::ssgrl
