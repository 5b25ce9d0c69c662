#include "Ggnn.h"

#include <torch/torch.h>

#include "AutocastExit.h"

namespace labrun::ssgrl {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The propagation of GgnnImpl::forwardDirect with a hand-written backward.
// Autograd would compute each weight's gradient once per step ([C, 2C]
// products over B*K rows) and sum them in buffers held through the whole
// backward pass; here the per-step gradients of the gates' inputs are
// stacked, and each weight gradient is one product over T*B*K rows at the
// end. Gates: z (update, fc_eq3), r (reset, fc_eq4), c (candidate, fc_eq5).
class GgnnFunction : public torch::autograd::Function<GgnnFunction> {
 public:
  // nodes: [B, K, C]; adjacency: [K, K]; then weight and bias of fc_eq3_w,
  // fc_eq3_u, fc_eq4_w, fc_eq4_u, fc_eq5_w, fc_eq5_u -> [B, K, C].
  static torch::Tensor forward(
      AutogradContext* ctx, const torch::Tensor& nodes,
      const torch::Tensor& adjacency, const torch::Tensor& w_z,
      const torch::Tensor& bw_z, const torch::Tensor& u_z,
      const torch::Tensor& bu_z, const torch::Tensor& w_r,
      const torch::Tensor& bw_r, const torch::Tensor& u_r,
      const torch::Tensor& bu_r, const torch::Tensor& w_c,
      const torch::Tensor& bw_c, const torch::Tensor& u_c,
      const torch::Tensor& bu_c, std::int64_t steps, bool released,
      bool concatenate) {
    const std::int64_t batch = nodes.size(0), classes = nodes.size(1);
    const std::int64_t dim = nodes.size(2), rows = batch * classes;
    // Per step: h^t, a^t = [A h^t ; A^T h^t], z, r, c.
    torch::Tensor states = torch::empty({steps, rows, dim}, nodes.options());
    torch::Tensor messages =
        torch::empty({steps, rows, 2 * dim}, nodes.options());
    torch::Tensor update = torch::empty_like(states);
    torch::Tensor reset = torch::empty_like(states);
    torch::Tensor candidate = torch::empty_like(states);
    const torch::Tensor out_matrix = adjacency.t();
    // The gates' products of a (and of h for z and r), over weights
    // concatenated for the forward pass when `concatenate`.
    torch::Tensor w_gates, bw_gates, u_gates, bu_gates;
    if (concatenate) {
      w_gates = torch::cat({w_z, w_r, w_c}).t();
      bw_gates = torch::cat({bw_z, bw_r, bw_c});
      u_gates = released ? u_z.t() : torch::cat({u_z, u_r}).t();
      bu_gates = released ? bu_z : torch::cat({bu_z, bu_r});
    }
    // x W^T + b for gate `index` of the concatenated ones, or of `w`, `b`.
    const auto gate = [concatenate, dim](
                          const torch::Tensor& products, std::int64_t index,
                          const torch::Tensor& x, const torch::Tensor& w,
                          const torch::Tensor& b) {
      return concatenate ? products.narrow(1, index * dim, dim)
                         : torch::addmm(b, x, w.t());
    };
    torch::Tensor h = nodes.reshape({rows, dim});
    for (std::int64_t t = 0; t < steps; ++t) {
      states[t].copy_(h);
      const torch::Tensor a = messages[t];
      const torch::Tensor nodes_t = h.view({batch, classes, dim});
      const torch::Tensor a3 = a.view({batch, classes, 2 * dim});
      a3.narrow(2, 0, dim).copy_(torch::matmul(adjacency, nodes_t));
      a3.narrow(2, dim, dim).copy_(torch::matmul(out_matrix, nodes_t));
      torch::Tensor from_a, from_h;
      if (concatenate) {
        from_a = torch::addmm(bw_gates, a, w_gates);
        from_h = torch::addmm(bu_gates, h, u_gates);
      }
      const torch::Tensor u_h_z = gate(from_h, 0, h, u_z, bu_z);
      const torch::Tensor u_h_r =
          released ? u_h_z : gate(from_h, 1, h, u_r, bu_r);
      torch::Tensor z = update[t], r = reset[t], c = candidate[t];
      torch::sigmoid_out(z, gate(from_a, 0, a, w_z, bw_z) + u_h_z);
      torch::sigmoid_out(r, gate(from_a, 1, a, w_r, bw_r) + u_h_r);
      torch::tanh_out(c, torch::addmm(bu_c, r * h, u_c.t())
                             .add_(gate(from_a, 2, a, w_c, bw_c)));
      h = (1 - z) * h + z * c;
    }
    ctx->save_for_backward({adjacency, w_z, u_z, w_r, u_r, w_c, u_c, states,
                            messages, update, reset, candidate});
    ctx->saved_data["released"] = released;
    return h.view({batch, classes, dim});
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const torch::Tensor &adjacency = saved[0], &w_z = saved[1], &u_z = saved[2],
                        &w_r = saved[3], &u_r = saved[4], &w_c = saved[5],
                        &u_c = saved[6], &states = saved[7],
                        &messages = saved[8], &update = saved[9],
                        &reset = saved[10], &candidate = saved[11];
    const bool released = ctx->saved_data["released"].toBool();
    const std::int64_t steps = states.size(0), rows = states.size(1);
    const std::int64_t dim = states.size(2);
    const std::int64_t batch = grads[0].size(0), classes = grads[0].size(1);
    // Gradients of the gates' pre-activations, per step.
    torch::Tensor d_update = torch::empty_like(update);
    torch::Tensor d_reset = torch::empty_like(reset);
    torch::Tensor d_candidate = torch::empty_like(candidate);
    const torch::Tensor out_matrix = adjacency.t();
    torch::Tensor g = grads[0].reshape({rows, dim});  // dL/dh^{t+1}
    for (std::int64_t t = steps - 1; t >= 0; --t) {
      const torch::Tensor h = states[t], z = update[t], r = reset[t];
      const torch::Tensor c = candidate[t];
      torch::Tensor dz = d_update[t], dr = d_reset[t], dc = d_candidate[t];
      // h^{t+1} = (1 - z) h + z c
      torch::sigmoid_backward_out(dz, g * (c - h), z);
      torch::tanh_backward_out(dc, g * z, c);
      const torch::Tensor d_reset_h = dc.mm(u_c);  // d(r h)
      torch::sigmoid_backward_out(dr, d_reset_h * h, r);
      torch::Tensor dh = g * (1 - z) + d_reset_h * r;
      if (released) {
        dh.addmm_(dz + dr, u_z);
      } else {
        dh.addmm_(dz, u_z).addmm_(dr, u_r);
      }
      torch::Tensor da = dz.mm(w_z);
      da.addmm_(dr, w_r).addmm_(dc, w_c);
      const torch::Tensor da3 = da.view({batch, classes, 2 * dim});
      torch::Tensor dh3 = dh.view({batch, classes, dim});
      dh3.add_(torch::matmul(out_matrix, da3.narrow(2, 0, dim)));
      dh3.add_(torch::matmul(adjacency, da3.narrow(2, dim, dim)));
      g = dh;
    }
    const torch::Tensor all_h = states.view({-1, dim});
    const torch::Tensor all_a = messages.view({-1, 2 * dim});
    const torch::Tensor all_dz = d_update.view({-1, dim});
    const torch::Tensor all_dr = d_reset.view({-1, dim});
    const torch::Tensor all_dc = d_candidate.view({-1, dim});
    // Weight gradients: dL/dW = sum over steps and rows of dpre^T input.
    const torch::Tensor reset_h = (reset * states).view({-1, dim});
    const torch::Tensor du_z = released ? all_dz + all_dr : all_dz;
    torch::Tensor grad_u_r, grad_bu_r;  // unused by the released gate
    if (!released) {
      grad_u_r = all_dr.t().mm(all_h);
      grad_bu_r = all_dr.sum(0);
    }
    return {g.view({batch, classes, dim}),
            torch::Tensor(),
            all_dz.t().mm(all_a),
            all_dz.sum(0),
            du_z.t().mm(all_h),
            du_z.sum(0),
            all_dr.t().mm(all_a),
            all_dr.sum(0),
            grad_u_r,
            grad_bu_r,
            all_dc.t().mm(all_a),
            all_dc.sum(0),
            all_dc.t().mm(reset_h),
            all_dc.sum(0),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor()};
  }
};

}  // namespace

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

torch::Tensor GgnnImpl::forward(const torch::Tensor& nodes) {
  if (time_steps_ == 0) return nodes;
  // On a GPU, one [B*K, 2C] x [2C, 3C] product per step fills the device
  // where three [2C, C] products over a few hundred rows would not. On the
  // CPU three products run as fast as one, and concatenating the weights
  // (128 MiB of copies at C = 2048) took 17% of the head's step
  // (docs/BENCHMARKS.md, "SSGRL head").
  const AutocastExit autocast(nodes);
  const auto in = [&autocast](const torch::Tensor& t) {
    return autocast.cast(t);
  };
  return GgnnFunction::apply(
      in(nodes), in(in_matrix_), in(fc_eq3_w_->weight), in(fc_eq3_w_->bias),
      in(fc_eq3_u_->weight), in(fc_eq3_u_->bias), in(fc_eq4_w_->weight),
      in(fc_eq4_w_->bias), in(fc_eq4_u_->weight), in(fc_eq4_u_->bias),
      in(fc_eq5_w_->weight), in(fc_eq5_w_->bias), in(fc_eq5_u_->weight),
      in(fc_eq5_u_->bias), time_steps_, released_reset_gate_,
      concatenated_gates_.value_or(nodes.is_cuda()));
}

torch::Tensor GgnnImpl::forwardDirect(torch::Tensor nodes) {
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
