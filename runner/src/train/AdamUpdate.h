// The float32 CPU update of FusedAdam: one pass over a range of a
// parameter, its gradient and its two moments. A file of its own, without
// LibTorch, so that it alone is compiled with -fno-math-errno (see
// runner/CMakeLists.txt): GCC refuses the torch precompiled header to a file
// compiled so, and a per-function optimize attribute does not free the sqrt
// builtin from errno.
#pragma once

#include <cstdint>

namespace labrun::train {

// The per-step constants, as LibTorch's Adam passes them to its float
// kernels (double arithmetic, then one conversion to float).
struct AdamUpdate {
  float beta1, one_minus_beta1, beta2, one_minus_beta2;
  float sqrt_bias_correction2, eps, neg_step_size;
  float l2_decay;    // Adam: grad += l2_decay * p
  float keep_ratio;  // AdamW: p *= keep_ratio first (1 when no decay)
  bool decoupled;

  // One pass over [begin, end) of
  //   grad = g + l2 * p                      (Adam with weight decay)
  //   p = p * keep                           (AdamW with weight decay)
  //   m = m * b1 + (1 - b1) * grad
  //   v = v * b2 + (1 - b2) * grad * grad
  //   p = p + (-step) * m / (sqrt(v) / sqrt(bc2) + eps)
  // with each operation rounded to float, in LibTorch's order. LibTorch's
  // vectorised kernels fuse some multiply-adds (FMA) that this loop rounds
  // twice, so results differ from LibTorch's by a float ulp or two.
  void apply(float* __restrict p, const float* __restrict g,
             float* __restrict m, float* __restrict v, std::int64_t begin,
             std::int64_t end) const;
};

}  // namespace labrun::train
