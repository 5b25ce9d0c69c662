// Which samples of an epoch one rank of a data-parallel run reads:
// torch.utils.data.DistributedSampler semantics (drop_last=False). The
// epoch's order (the same on every rank: it depends on the seed and the
// epoch alone) is padded by repeating its start until its length divides by
// the world size; rank r then takes positions r, r + W, r + 2W, ... So every
// rank reads as many samples, and position p of the padded order is sample
// p / W of rank p % W.
#pragma once

#include <cstdint>
#include <vector>

namespace labrun::dist {

class DistributedSampler {
 public:
  DistributedSampler() = default;  // one rank of one: the whole order
  // Throws std::invalid_argument unless 0 <= rank < world.
  DistributedSampler(std::int64_t rank, std::int64_t world);

  std::int64_t rank() const { return rank_; }
  std::int64_t world() const { return world_; }
  // Samples per rank for a set of `total`: ceil(total / world).
  std::int64_t shardSize(std::int64_t total) const;
  // This rank's samples of the epoch `order` (sample indices, every rank
  // passing the same order), shardSize(order.size()) of them.
  std::vector<std::int64_t> shard(const std::vector<std::int64_t>& order) const;

 private:
  std::int64_t rank_ = 0;
  std::int64_t world_ = 1;
};

}  // namespace labrun::dist
