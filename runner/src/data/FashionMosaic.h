// fashion-mosaic: a real-image multi-label set built from Debian's
// dataset-fashion-mnist: canvases holding 2-4 Fashion-MNIST items whose
// classes follow a few "outfit" styles, written as JPEGs plus COCO-format
// instances JSON files, so it is read through the same `coco` path as COCO.
// Layout of `out_dir`:
//   train2014/000001.jpg ...          canvases from Fashion-MNIST train images
//   val2014/000001.jpg ...            canvases from Fashion-MNIST t10k images
//   annotations/instances_train.json  COCO instances (ids 1..10 = labels 0..9)
//   annotations/instances_val.json
//   manifest.json                     the options; written last
// See docs/DATASETS.md.
#pragma once

#include <cstdint>
#include <string>

namespace labrun::data {

struct FashionMosaicOptions {
  std::string source_dir = "/usr/share/datasets/fashion-mnist";
  std::string out_dir = "data/fashion-mosaic";
  std::int64_t train_images = 0;  // 0: the default, 2000
  std::int64_t val_images = 0;    // 0: the default, 500
  std::int64_t canvas_size = 0;   // square side in pixels; 0: 96
  std::uint64_t seed = 0;
};

struct FashionMosaicSummary {
  std::string train_json, val_json;  // instances_train.json, instances_val.json
  std::string train_images, val_images;  // image folders
  std::int64_t train_count = 0, val_count = 0;
};

// Builds the set (deterministic for a seed); skips work when `out_dir`
// already holds a complete set made with the same options. Throws
// std::runtime_error naming the file on missing/corrupt sources, or when
// `out_dir` exists, is not empty and is not a fashion-mosaic set;
// std::invalid_argument on bad sizes.
FashionMosaicSummary buildFashionMosaic(const FashionMosaicOptions& options);

}  // namespace labrun::data
