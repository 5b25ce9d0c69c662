// DistributedSampler semantics, on hand-computed cases, and the batch
// sources that use it (torch.utils.data.DistributedSampler, drop_last=False).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <numeric>
#include <set>

#include "data/Dataset.h"
#include "dist/DistributedSampler.h"

namespace {

using labrun::dist::DistributedSampler;

TEST(DistributedSampler, PadsFromTheStartAndStridesByRank) {
  // 10 samples over 3 ranks: padded to 12 with the order's first 2.
  const std::vector<std::int64_t> order = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
  EXPECT_EQ(DistributedSampler(0, 3).shard(order),
            (std::vector<std::int64_t>{9, 6, 3, 0}));
  EXPECT_EQ(DistributedSampler(1, 3).shard(order),
            (std::vector<std::int64_t>{8, 5, 2, 9}));
  EXPECT_EQ(DistributedSampler(2, 3).shard(order),
            (std::vector<std::int64_t>{7, 4, 1, 8}));
  EXPECT_EQ(DistributedSampler(2, 3).shardSize(10), 4);
  // More ranks than samples: the order repeats, as torch's does
  // ([3, 1] -> [3, 1, 3, 1, 3]).
  EXPECT_EQ(DistributedSampler(3, 5).shard({3, 1}),
            (std::vector<std::int64_t>{1}));
  EXPECT_EQ(DistributedSampler(4, 5).shard({3, 1}),
            (std::vector<std::int64_t>{3}));
  EXPECT_EQ(DistributedSampler().shard(order), order);
  EXPECT_THROW(DistributedSampler(2, 2), std::invalid_argument);
}

labrun::data::TensorDataset numbered(std::int64_t n) {
  labrun::data::TensorDataset set;
  // Image i holds the value i, so a batch tells which samples it has.
  set.images = torch::arange(n, torch::kFloat).view({n, 1, 1, 1});
  set.targets = torch::zeros({n, 2});
  set.mask = torch::ones({n, 2});
  set.class_names = {"a", "b"};
  return set;
}

std::vector<std::int64_t> epochSamples(labrun::data::BatchSource& source,
                                       std::int64_t epoch,
                                       std::int64_t skip = 0) {
  source.startEpoch(epoch, skip);
  std::vector<std::int64_t> seen;
  labrun::data::Batch batch;
  while (source.next(batch)) {
    for (std::int64_t i = 0; i < batch.images.size(0); ++i) {
      seen.push_back(batch.images[i].item<std::int64_t>());
    }
  }
  return seen;
}

TEST(DistributedSampler, RanksSplitTheSameShuffledEpochOfBatchIterator) {
  const auto set = numbered(11);
  labrun::data::BatchIterator whole(set, /*batch_size=*/4, true, /*seed=*/5);
  labrun::data::BatchIterator rank0(set, 2, true, 5), rank1(set, 2, true, 5);
  rank0.setSampler(DistributedSampler(0, 2));
  rank1.setSampler(DistributedSampler(1, 2));
  EXPECT_EQ(rank0.batchesPerEpoch(), 3);  // 6 samples each, one padded
  for (std::int64_t epoch : {1, 2}) {
    const auto order = epochSamples(whole, epoch);
    const auto a = epochSamples(rank0, epoch);
    const auto b = epochSamples(rank1, epoch);
    ASSERT_EQ(a.size(), 6u);
    ASSERT_EQ(b.size(), 6u);
    for (std::size_t p = 0; p < 12; ++p) {
      // Position p of the padded order is sample p / 2 of rank p % 2.
      EXPECT_EQ((p % 2 == 0 ? a : b)[p / 2], order[p % 11]) << p;
    }
    // A resume skips whole batches of this rank's shard.
    EXPECT_EQ(epochSamples(rank1, epoch, /*skip=*/1),
              std::vector<std::int64_t>(b.begin() + 2, b.end()));
  }
  EXPECT_NE(epochSamples(rank0, 1), epochSamples(rank0, 2));  // reshuffled
}

}  // namespace
