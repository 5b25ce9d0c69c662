#include "LowRankBilinearScore.h"

#include <torch/torch.h>

#include <algorithm>
#include <optional>

#include "AutocastExit.h"

namespace labrun::ssgrl {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

std::int64_t classesPerChunk(const torch::Tensor& u,
                             std::int64_t chunk_elements) {
  const std::int64_t per_class = std::max<std::int64_t>(1, u.numel());
  return std::max<std::int64_t>(1, chunk_elements / per_class);
}

// A buffer for `classes` of [B, S, n, D] chunks, allocated once per call:
// a fresh chunk per class would cost page faults, not just arithmetic.
class ChunkBuffer {
 public:
  // u: [B, S, D]; room for `classes` classes.
  ChunkBuffer(const torch::Tensor& u, std::int64_t classes)
      : batch_(u.size(0)),
        locations_(u.size(1)),
        dim_(u.size(2)),
        data_(torch::empty({classes * u.numel()}, u.options())) {}

  // The first `count` classes' worth, as a contiguous [B, S, count, D].
  torch::Tensor take(std::int64_t count) const {
    return data_.narrow(0, 0, batch_ * locations_ * count * dim_)
        .view({batch_, locations_, count, dim_});
  }

 private:
  std::int64_t batch_, locations_, dim_;
  torch::Tensor data_;
};

// tanh(u[b, s, d] * v[k, d]) for the classes in `v`, into `out`
// ([B, S, n, D]), which it returns.
torch::Tensor tanhProduct(torch::Tensor out, const torch::Tensor& u,
                          const torch::Tensor& v) {
  torch::mul_out(out, u.unsqueeze(2), v).tanh_();
  return out;
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
    const std::int64_t step =
        std::min(classes, classesPerChunk(u, chunk_elements));
    const ChunkBuffer buffer(u, step);
    torch::Tensor scores =
        torch::empty({u.size(0), classes, u.size(1)}, u.options());
    for (std::int64_t first = 0; first < classes; first += step) {
      const std::int64_t count = std::min(step, classes - first);
      const torch::Tensor t =
          tanhProduct(buffer.take(count), u, v.narrow(0, first, count));
      // [B, S, n, D] @ [D] -> [B, S, n], stored as [B, n, S].
      scores.narrow(1, first, count).copy_(torch::matmul(t, w).transpose(1, 2));
    }
    return scores;
  }

  // With t = tanh(u * v), g = dL/dscores and q = g (1 - t^2):
  //   dL/dw[d]       = sum_{b,k,s} g[b,k,s] t[b,s,k,d]
  //   dL/du[b,s,d]   = w[d] sum_k     q[b,s,k,d] v[k,d]
  //   dL/dv[k,d]     = w[d] sum_{b,s} q[b,s,k,d] u[b,s,d]
  // (w is applied after the sums, on the small tensors). q overwrites t.
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const torch::Tensor &u = saved[0], &v = saved[1], &w = saved[2];
    const std::int64_t classes = v.size(0), dim = v.size(1);
    const std::int64_t step = std::min(
        classes, classesPerChunk(u, ctx->saved_data["chunk_elements"].toInt()));
    const torch::Tensor g = grads[0].transpose(1, 2);  // [B, S, K]
    const bool need_u = ctx->needs_input_grad(0);
    const bool need_v = ctx->needs_input_grad(1);
    const bool need_w = ctx->needs_input_grad(2);
    torch::Tensor grad_u = need_u ? torch::zeros_like(u) : torch::Tensor();
    torch::Tensor grad_v = need_v ? torch::empty_like(v) : torch::Tensor();
    torch::Tensor grad_w = need_w ? torch::zeros_like(w) : torch::Tensor();
    const ChunkBuffer buffer(u, step);
    const std::optional<ChunkBuffer> products =
        need_v ? std::make_optional<ChunkBuffer>(u, step) : std::nullopt;
    for (std::int64_t first = 0; first < classes; first += step) {
      const std::int64_t count = std::min(step, classes - first);
      const torch::Tensor v_chunk = v.narrow(0, first, count);
      const torch::Tensor g_chunk =
          g.narrow(2, first, count).contiguous().unsqueeze(-1);  // [B,S,n,1]
      torch::Tensor t = tanhProduct(buffer.take(count), u, v_chunk);
      if (need_w) grad_w.addmv_(t.view({-1, dim}).t(), g_chunk.view({-1}));
      if (!need_u && !need_v) continue;
      torch::tanh_backward_out(t, g_chunk, t);  // t is q from here on
      if (need_v) {
        torch::Tensor product = products->take(count);
        torch::Tensor grad_v_chunk = grad_v.narrow(0, first, count);
        torch::sum_out(grad_v_chunk, torch::mul_out(product, t, u.unsqueeze(2)),
                       torch::IntArrayRef{0, 1});
      }
      if (need_u) grad_u.add_(t.mul_(v_chunk).sum(2));
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
  if (chunk_elements <= 0) {
    chunk_elements = u.is_cuda() ? std::int64_t{1} << 22 : 1 << 19;
  }
  const AutocastExit autocast(u);
  return LowRankBilinearScoreFunction::apply(autocast.cast(u), autocast.cast(v),
                                             autocast.cast(w), chunk_elements);
}

}  // namespace labrun::ssgrl
