// The labels of one dataset split as read from its annotations: what every
// format (coco, voc, list) produces, what the label cache stores, and what
// the image loader consumes.
#pragma once

#include <torch/types.h>

#include <string>
#include <vector>

namespace labrun::data {

struct LabelSet {
  std::vector<std::string> class_names;  // K, in label-vector order
  std::vector<std::string> image_paths;  // N, absolute or relative to cwd
  torch::Tensor targets;                 // [N, K] float32 in {0, 1}
  torch::Tensor mask;                    // [N, K] float32, 0 = ignored label
};

}  // namespace labrun::data
