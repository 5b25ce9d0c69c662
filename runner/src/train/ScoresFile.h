// Per-image scores of an evaluation, for offline analysis.
#pragma once

#include <string>
#include <vector>

#include <torch/types.h>

namespace labrun::train {

// Writes scores [N, K] float32 to `path`: NumPy .npy (format 1.0, '<f4', C
// order) when it ends in .npy, else CSV with a header of `class_names`
// (first column: sample index in evaluation order). Written atomically.
void writeScores(const std::string& path, const torch::Tensor& scores,
                 const std::vector<std::string>& class_names);

}  // namespace labrun::train
