// A generated multi-label image set with correlated labels, for smoke tests:
// deterministic for a seed, small, and learnable in seconds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/Dataset.h"

namespace labrun::data {

struct SyntheticOptions {
  std::int64_t num_classes = 8;
  std::int64_t image_size = 32;
  std::int64_t size = 1024;
  std::uint64_t seed = 7;
};

// Class k is a coloured, patterned square pasted at a random place. Labels
// are drawn through "scenes" (class pairs that usually appear together), so
// label co-occurrence carries information, as in real multi-label data.
TensorDataset makeSyntheticDataset(const SyntheticOptions& options);
// Its class names, "shape0", "shape1", ..., without making the images.
std::vector<std::string> syntheticClassNames(const SyntheticOptions& options);
// The transform steps (data/Transforms.h) that give an image file the form
// of the generated images: image_size square, RGB in [0, 1] normalised as
// they are. `labrun predict` and `labrun export` use them for such a run.
std::vector<std::string> syntheticImageSteps(const SyntheticOptions& options);

}  // namespace labrun::data
