// The attention score of SSGRL's semantic decoupling, computed without
// materialising the [B, S, K, D] tensor for the whole batch.
#pragma once

#include <torch/types.h>

#include <cstdint>

namespace labrun::ssgrl {

// scores[b, k, s] = sum_d w[d] * tanh(u[b, s, d] * v[k, d])
//   u: [B, S, D] (projected image features per location),
//   v: [K, D] (projected word embedding per class), w: [D].
// Returns [B, K, S]. Forward and backward visit classes in chunks of at most
// `chunk_elements` / (B * S * D) classes (at least one) and keep no
// [B, S, K, D] tensor (backward recomputes the tanh): memory stays bounded by
// one chunk buffer in forward and two in backward, reused from chunk to
// chunk. The default (chunk_elements <= 0) depends on the device: on the
// CPU 2 MiB of float32, which keeps a chunk in a core's L2 cache across the
// passes over it (one class at 14x14, batch 2, D = 1024); on CUDA 16 MiB,
// since there each chunk costs a dozen kernel launches and one class per
// chunk made the head launch-bound (docs/BENCHMARKS.md, GPU).
// Differentiable once (no double backward).
torch::Tensor lowRankBilinearScore(const torch::Tensor& u,
                                   const torch::Tensor& v,
                                   const torch::Tensor& w,
                                   std::int64_t chunk_elements = 0);

}  // namespace labrun::ssgrl
