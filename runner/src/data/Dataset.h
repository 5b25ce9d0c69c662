// Labelled images held in memory as tensors, and batches drawn from them.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <torch/types.h>

namespace labrun::data {

struct Batch {
  torch::Tensor images;   // [B, 3, H, W] float32, normalised
  torch::Tensor targets;  // [B, K] float32 in {0, 1}
  torch::Tensor mask;     // [B, K] float32, 0 = label ignored
};

struct TensorDataset {
  torch::Tensor images;   // [N, 3, H, W] float32
  torch::Tensor targets;  // [N, K] float32
  torch::Tensor mask;     // [N, K] float32
  std::vector<std::string> class_names;

  std::int64_t size() const { return images.size(0); }
  std::int64_t numClasses() const { return targets.size(1); }
};

// Walks a dataset in batches; with `shuffle`, each epoch's order is drawn
// from (seed, epoch) alone, so an epoch's order never depends on history.
class BatchIterator {
 public:
  BatchIterator(const TensorDataset& dataset, std::int64_t batch_size,
                bool shuffle, std::uint64_t seed);
  void startEpoch(std::int64_t epoch);
  bool next(Batch& batch);
  std::int64_t batchesPerEpoch() const;

 private:
  const TensorDataset& dataset_;
  std::int64_t batch_size_;
  bool shuffle_;
  std::uint64_t seed_;
  torch::Tensor order_;
  std::int64_t position_ = 0;
};

}  // namespace labrun::data
