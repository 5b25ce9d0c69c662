#include "dist/DistributedSampler.h"

#include <stdexcept>
#include <string>

namespace labrun::dist {

DistributedSampler::DistributedSampler(std::int64_t rank, std::int64_t world)
    : rank_(rank), world_(world) {
  if (world < 1 || rank < 0 || rank >= world) {
    throw std::invalid_argument("DistributedSampler: rank " +
                                std::to_string(rank) + " of world " +
                                std::to_string(world));
  }
}

std::int64_t DistributedSampler::shardSize(std::int64_t total) const {
  return (total + world_ - 1) / world_;
}

std::vector<std::int64_t> DistributedSampler::shard(
    const std::vector<std::int64_t>& order) const {
  const auto total = static_cast<std::int64_t>(order.size());
  std::vector<std::int64_t> mine;
  if (total == 0) return mine;
  const std::int64_t count = shardSize(total);
  mine.reserve(static_cast<std::size_t>(count));
  for (std::int64_t i = 0; i < count; ++i) {
    // Positions past the end wrap to the start: the padding.
    const std::int64_t position = (rank_ + i * world_) % total;
    mine.push_back(order[static_cast<std::size_t>(position)]);
  }
  return mine;
}

}  // namespace labrun::dist
