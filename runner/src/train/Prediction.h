// Scores image files with a model (`labrun predict`): the images go through
// the validation split's pipeline (decoder, data.transforms.val, the
// threaded image loader), so a file is scored as it would be in an
// evaluation.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/ImageLoader.h"
#include "train/ExperimentOptions.h"
#include "train/Model.h"

namespace labrun::train {

struct Predictions {
  std::vector<std::string> images;      // the usable ones, in input order
  torch::Tensor logits;                 // [images, K] float32, on the CPU
  std::vector<data::BadImage> skipped;  // unusable ones, in input order
};

// Called after each batch with the images handled so far and in all.
using PredictProgress =
    std::function<void(std::int64_t done, std::int64_t total)>;

// Scores `images` with `model` (in eval mode, on `device`) in batches of
// data.batch_size read by data.workers threads, transformed as `split`
// (the validation split's) says. Unusable images are skipped, however
// many, and listed. `classes` is K (the model's outputs).
Predictions predictImages(Model& model, torch::Device device,
                          const ImageSplit& split, std::int64_t classes,
                          const std::vector<std::string>& images,
                          const PredictProgress& progress);

}  // namespace labrun::train
