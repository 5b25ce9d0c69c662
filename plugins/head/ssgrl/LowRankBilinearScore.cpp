#include "LowRankBilinearScore.h"

#include <torch/torch.h>

#include <algorithm>

namespace labrun::ssgrl {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// tanh(u[b, s, d] * v[k, d]) for the classes in `v`: [B, S, n, D].
torch::Tensor tanhProduct(const torch::Tensor& u, const torch::Tensor& v) {
  return u.unsqueeze(2).mul(v).tanh_();
}

std::int64_t classesPerChunk(const torch::Tensor& u,
                             std::int64_t chunk_elements) {
  const std::int64_t per_class = std::max<std::int64_t>(1, u.numel());
  return std::max<std::int64_t>(1, chunk_elements / per_class);
}

class LowRankBilinearScoreFunction
    : public torch::autograd::Function<LowRankBilinearScoreFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& u,
                               const torch::Tensor& v, const torch::Tensor& w,
                               std::int64_t chunk_elements) {
    ctx->save_for_backward({u, v, w});
    ctx->saved_data["chunk_elements"] = chunk_elements;
    const std::int64_t classes = v.size(0);
    const std::int64_t step = classesPerChunk(u, chunk_elements);
    torch::Tensor scores =
        torch::empty({u.size(0), classes, u.size(1)}, u.options());
    for (std::int64_t first = 0; first < classes; first += step) {
      const std::int64_t count = std::min(step, classes - first);
      // [B, S, n, D] @ [D] -> [B, S, n], stored as [B, n, S].
      scores.narrow(1, first, count)
          .copy_(torch::matmul(tanhProduct(u, v.narrow(0, first, count)), w)
                     .transpose(1, 2));
    }
    return scores;
  }

  // With t = tanh(u * v), g = dL/dscores and q = g (1 - t^2):
  //   dL/dw[d]       = sum_{b,k,s} g[b,k,s] t[b,s,k,d]
  //   dL/du[b,s,d]   = w[d] sum_k     q[b,s,k,d] v[k,d]
  //   dL/dv[k,d]     = w[d] sum_{b,s} q[b,s,k,d] u[b,s,d]
  // (w is applied after the sums, on the small tensors).
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const torch::Tensor &u = saved[0], &v = saved[1], &w = saved[2];
    const std::int64_t step =
        classesPerChunk(u, ctx->saved_data["chunk_elements"].toInt());
    const torch::Tensor g = grads[0].transpose(1, 2);  // [B, S, K]
    const std::int64_t classes = v.size(0), dim = v.size(1);
    const bool need_u = ctx->needs_input_grad(0);
    const bool need_v = ctx->needs_input_grad(1);
    const bool need_w = ctx->needs_input_grad(2);
    torch::Tensor grad_u = need_u ? torch::zeros_like(u) : torch::Tensor();
    torch::Tensor grad_v = need_v ? torch::empty_like(v) : torch::Tensor();
    torch::Tensor grad_w = need_w ? torch::zeros_like(w) : torch::Tensor();
    for (std::int64_t first = 0; first < classes; first += step) {
      const std::int64_t count = std::min(step, classes - first);
      const torch::Tensor v_chunk = v.narrow(0, first, count);
      const torch::Tensor g_chunk =
          g.narrow(2, first, count).contiguous().unsqueeze(-1);  // [B,S,n,1]
      const torch::Tensor t = tanhProduct(u, v_chunk);
      if (need_w) {
        grad_w.add_(
            torch::matmul(g_chunk.reshape({1, -1}), t.reshape({-1, dim}))
                .view({dim}));
      }
      if (!need_u && !need_v) continue;
      torch::Tensor q = torch::tanh_backward(g_chunk, t);  // [B, S, n, D]
      if (need_v) {
        grad_v.narrow(0, first, count)
            .copy_((q * u.unsqueeze(2)).sum(torch::IntArrayRef{0, 1}));
      }
      if (need_u) grad_u.add_(q.mul_(v_chunk).sum(2));
    }
    if (need_u) grad_u.mul_(w);
    if (need_v) grad_v.mul_(w);
    return {grad_u, grad_v, grad_w, torch::Tensor()};
  }
};

}  // namespace

torch::Tensor lowRankBilinearScore(const torch::Tensor& u,
                                   const torch::Tensor& v,
                                   const torch::Tensor& w,
                                   std::int64_t chunk_elements) {
  TORCH_CHECK(u.dim() == 3 && v.dim() == 2 && w.dim() == 1 &&
                  u.size(2) == v.size(1) && v.size(1) == w.size(0),
              "lowRankBilinearScore: expected u [B, S, D], v [K, D], w [D]; "
              "got ",
              u.sizes(), ", ", v.sizes(), ", ", w.sizes());
  return LowRankBilinearScoreFunction::apply(u, v, w, chunk_elements);
}

}  // namespace labrun::ssgrl
