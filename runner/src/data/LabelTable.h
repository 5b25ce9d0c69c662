// The labels of one split before they become tensors (data/LabelSet.h):
// what the format readers (coco, voc, list) produce and what the label cache
// stores. No LibTorch here, so parsing and caching stay cheap to build and
// test, and `labrun prepare` runs without loading LibTorch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace labrun::data {

struct LabelTable {
  // One byte per (image, class).
  enum State : std::uint8_t {
    kNegative = 0,  // target 0, mask 1
    kPositive = 1,  // target 1, mask 1
    kIgnored = 2,   // target 0, mask 0 (e.g. a VOC object marked difficult)
  };

  std::vector<std::string> class_names;  // K
  std::vector<std::string> image_paths;  // N, absolute
  std::vector<std::uint8_t> states;      // [N, K] row-major State values

  std::size_t numImages() const { return image_paths.size(); }
  std::size_t numClasses() const { return class_names.size(); }
  std::uint8_t& at(std::size_t image, std::size_t k) {
    return states[image * class_names.size() + k];
  }
  std::uint8_t at(std::size_t image, std::size_t k) const {
    return states[image * class_names.size() + k];
  }
  // Removes the images whose `keep` flag is false, keeping the order.
  void keepImages(const std::vector<bool>& keep);
};

}  // namespace labrun::data
