// Labelled images held in memory as tensors, and batches drawn from them.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dist/DistributedSampler.h"

namespace labrun::data {

struct Batch {
  torch::Tensor images;   // [B, 3, H, W] float32, normalised
  torch::Tensor targets;  // [B, K] float32 in {0, 1}
  torch::Tensor mask;     // [B, K] float32, 0 = label ignored
  torch::Tensor samples;  // [B] int64, the set's index of each row's sample
};

// Whether batch sources put their batches in page-locked memory: when CUDA
// is present, so that a non-blocking copy to the GPU neither stages through
// a driver buffer nor waits for the device.
bool pinBatches();

// Rows `index` ([B] int64) of `table` ([N, ...]), in page-locked memory when
// `pinned`.
torch::Tensor selectRows(const torch::Tensor& table, const torch::Tensor& index,
                         bool pinned);

struct TensorDataset {
  torch::Tensor images;   // [N, 3, H, W] float32
  torch::Tensor targets;  // [N, K] float32
  torch::Tensor mask;     // [N, K] float32
  std::vector<std::string> class_names;

  std::int64_t size() const { return images.size(0); }
  std::int64_t numClasses() const { return targets.size(1); }
};

// Where the training loop takes its batches from. An epoch's order depends
// on (seed, epoch) alone, never on history, so a run can resume mid-epoch.
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  // Starts epoch `epoch` (1-based), skipping its first `skip_batches`.
  virtual void startEpoch(std::int64_t epoch, std::int64_t skip_batches) = 0;
  // Fills `batch` with the next batch of the epoch; false at its end.
  virtual bool next(Batch& batch) = 0;
  virtual std::int64_t batchesPerEpoch() const = 0;
  virtual std::int64_t size() const = 0;  // samples of the set
  virtual const std::vector<std::string>& classNames() const = 0;
  // What names sample `index` outside labrun (an image file), for exports.
  virtual std::string sampleName(std::int64_t index) const = 0;

  // Data-parallel training: from the next startEpoch on, this process reads
  // only its shard of each epoch's order (padded evenly across the ranks).
  void setSampler(dist::DistributedSampler sampler) { sampler_ = sampler; }
  const dist::DistributedSampler& sampler() const { return sampler_; }
  // Samples this process reads per epoch: its shard of size().
  std::int64_t shardSize() const { return sampler_.shardSize(size()); }

 protected:
  dist::DistributedSampler sampler_;
};

// Batches of an in-memory TensorDataset (the synthetic set).
class BatchIterator : public BatchSource {
 public:
  BatchIterator(const TensorDataset& dataset, std::int64_t batch_size,
                bool shuffle, std::uint64_t seed);
  void startEpoch(std::int64_t epoch, std::int64_t skip_batches) override;
  bool next(Batch& batch) override;
  std::int64_t batchesPerEpoch() const override;
  std::int64_t size() const override { return dataset_.size(); }
  const std::vector<std::string>& classNames() const override {
    return dataset_.class_names;
  }
  // A generated sample has no file: its index names it.
  std::string sampleName(std::int64_t index) const override {
    return std::to_string(index);
  }

 private:
  const TensorDataset& dataset_;
  std::int64_t batch_size_;
  bool shuffle_;
  std::uint64_t seed_;
  bool pinned_ = pinBatches();
  torch::Tensor order_;  // this process's samples of the epoch
  std::int64_t position_ = 0;
};

}  // namespace labrun::data
