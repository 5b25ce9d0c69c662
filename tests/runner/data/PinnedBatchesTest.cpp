// Batches are made in page-locked memory where CUDA is present, so that
// the trainer's non-blocking copies to the GPU neither stage through a
// driver buffer nor wait for the device (data/Dataset.h).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "data/Dataset.h"

namespace labrun::data {
namespace {

torch::Tensor table() {
  return torch::arange(12, torch::kFloat).reshape({4, 3});
}
torch::Tensor picked() { return torch::tensor({2, 0, 2}, torch::kLong); }

TEST(PinnedBatches, SelectRowsTakesTheRowsInPageableMemory) {
  const torch::Tensor rows = selectRows(table(), picked(), /*pinned=*/false);
  EXPECT_TRUE(torch::equal(rows, table().index_select(0, picked())));
  EXPECT_FALSE(rows.is_pinned());
}

TEST(PinnedBatches, SelectRowsPinsTheRowsWhenAsked) {
  if (!torch::cuda::is_available()) {
    GTEST_SKIP() << "this LibTorch has no CUDA device";
  }
  const torch::Tensor rows = selectRows(table(), picked(), /*pinned=*/true);
  EXPECT_TRUE(torch::equal(rows, table().index_select(0, picked())));
  EXPECT_TRUE(rows.is_pinned());
}

TEST(PinnedBatches, BatchesArePinnedWhereCudaIs) {
  EXPECT_EQ(pinBatches(), torch::cuda::is_available());
  TensorDataset set;
  set.images = torch::rand({5, 3, 2, 2});
  set.targets = (torch::rand({5, 4}) < 0.5).to(torch::kFloat);
  set.mask = torch::ones({5, 4});
  BatchIterator batches(set, /*batch_size=*/2, /*shuffle=*/true, /*seed=*/3);
  Batch batch;
  ASSERT_TRUE(batches.next(batch));
  for (const torch::Tensor& part : {batch.images, batch.targets, batch.mask}) {
    EXPECT_EQ(part.is_pinned(), pinBatches());
  }
  EXPECT_TRUE(
      torch::equal(batch.images, set.images.index_select(0, batch.samples)));
  EXPECT_TRUE(
      torch::equal(batch.targets, set.targets.index_select(0, batch.samples)));
  EXPECT_TRUE(
      torch::equal(batch.mask, set.mask.index_select(0, batch.samples)));
}

}  // namespace
}  // namespace labrun::data
