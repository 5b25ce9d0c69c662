#include "data/Dataset.h"

#include <torch/cuda.h>
#include <torch/torch.h>

namespace labrun::data {

bool pinBatches() { return torch::cuda::is_available(); }

torch::Tensor selectRows(const torch::Tensor& table, const torch::Tensor& index,
                         bool pinned) {
  if (!pinned) return table.index_select(/*dim=*/0, index);
  std::vector<std::int64_t> sizes = table.sizes().vec();
  sizes[0] = index.size(0);
  torch::Tensor rows =
      torch::empty(sizes, table.options().pinned_memory(/*pinned=*/true));
  return torch::index_select_out(rows, table, /*dim=*/0, index);
}

BatchIterator::BatchIterator(const TensorDataset& dataset,
                             std::int64_t batch_size, bool shuffle,
                             std::uint64_t seed)
    : dataset_(dataset),
      batch_size_(batch_size),
      shuffle_(shuffle),
      seed_(seed) {
  startEpoch(1, 0);
}

void BatchIterator::startEpoch(std::int64_t epoch, std::int64_t skip_batches) {
  position_ = std::min(skip_batches * batch_size_, shardSize());
  torch::Tensor order;
  if (shuffle_) {
    // A private generator: the order does not consume the global RNG stream.
    auto generator = at::make_generator<at::CPUGeneratorImpl>(
        seed_ * 1000003ULL + static_cast<std::uint64_t>(epoch));
    order = torch::randperm(dataset_.size(), generator, torch::kLong);
  } else {
    order = torch::arange(dataset_.size(), torch::kLong);
  }
  std::vector<std::int64_t> mine =
      sampler_.shard({order.data_ptr<std::int64_t>(),
                      order.data_ptr<std::int64_t>() + order.numel()});
  order_ = torch::tensor(mine, torch::kLong);
}

bool BatchIterator::next(Batch& batch) {
  if (position_ >= shardSize()) return false;
  const std::int64_t end = std::min(position_ + batch_size_, shardSize());
  const torch::Tensor index = order_.slice(0, position_, end);
  position_ = end;
  batch.images = selectRows(dataset_.images, index, pinned_);
  batch.targets = selectRows(dataset_.targets, index, pinned_);
  batch.mask = selectRows(dataset_.mask, index, pinned_);
  batch.samples = index;
  return true;
}

std::int64_t BatchIterator::batchesPerEpoch() const {
  return (shardSize() + batch_size_ - 1) / batch_size_;
}

}  // namespace labrun::data
