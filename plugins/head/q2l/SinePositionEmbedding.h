// The fixed 2-D sine position encoding of the released Query2Label code
// (SlongLiu/query2labels lib/models/position_encoding.py: DETR's
// PositionEmbeddingSine with normalize=True, as vendored by Alibaba-MIIL/ASL
// at ae77632, lines 34-51 and 69).
#pragma once

#include <torch/types.h>

#include <cstdint>

namespace labrun::q2l {

// [channels, height, width]: channels / 2 for the row y, then channels / 2
// for the column x; coordinate c = 1..n becomes c / (n + 1e-6) * 2 pi, and
// feature i of an axis is sin (i even) or cos (i odd) of c / 10000^(2
// floor(i / 2) / (channels / 2)). The released code computes it once for an
// (img_size / 32)^2 map; here it follows the map it is given, which is the
// same at the released input size. channels must be a multiple of 4.
torch::Tensor sinePositionEmbedding(std::int64_t height, std::int64_t width,
                                    std::int64_t channels,
                                    const torch::TensorOptions& options);

}  // namespace labrun::q2l
