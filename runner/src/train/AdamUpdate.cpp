#include "train/AdamUpdate.h"

#include <cmath>

namespace labrun::train {

void AdamUpdate::apply(float* __restrict p, const float* __restrict g,
                       float* __restrict m, float* __restrict v,
                       std::int64_t begin, std::int64_t end) const {
  for (std::int64_t i = begin; i < end; ++i) {
    float grad = g[i];
    if (l2_decay != 0) grad = grad + l2_decay * p[i];
    if (decoupled) p[i] = p[i] * keep_ratio;
    m[i] = m[i] * beta1 + one_minus_beta1 * grad;
    v[i] = v[i] * beta2 + one_minus_beta2 * grad * grad;
    // v is never negative: with -fno-math-errno this sqrt vectorises.
    const float denom = std::sqrt(v[i]) / sqrt_bias_correction2 + eps;
    p[i] = p[i] + neg_step_size * m[i] / denom;
  }
}

}  // namespace labrun::train
