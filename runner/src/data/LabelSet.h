// The labels of one dataset split as tensors: what the image loader
// consumes, made from the label table that every format (coco, voc, list)
// produces and the label cache stores (data/LabelTable.h).
#pragma once

#include <torch/types.h>

#include <string>
#include <vector>

#include "data/LabelSource.h"
#include "data/LabelTable.h"

namespace labrun::data {

struct LabelSet {
  std::vector<std::string> class_names;  // K, in label-vector order
  std::vector<std::string> image_paths;  // N, absolute or relative to cwd
  torch::Tensor targets;                 // [N, K] float32 in {0, 1}
  torch::Tensor mask;                    // [N, K] float32, 0 = ignored label
};

// targets and mask from the table's states; its names and paths move.
LabelSet toLabelSet(LabelTable table);

// loadLabelTable (data/LabelSource.h) of `split`, as tensors; `report`
// describes the table's load.
LabelSet loadLabels(const LabelSourceOptions& options, const std::string& split,
                    const std::string& spec_dir,
                    LabelLoadReport* report = nullptr);

}  // namespace labrun::data
