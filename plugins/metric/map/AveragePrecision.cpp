#include "AveragePrecision.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>

namespace labrun::map_metric {
namespace {

// The released voc_ap over the ranked samples: precision made monotone
// from the right, times each recall step (1 / positives at each positive),
// in one backward pass: at rank i, tp = positives - the positives after i.
double vocInterpolated(const std::vector<std::uint32_t>& order,
                       const float* targets, double positives) {
  double ap = 0, best_precision = 0, tp = positives;
  for (std::size_t i = order.size(); i > 0; --i) {
    best_precision = std::max(best_precision, tp / static_cast<double>(i));
    if (targets[order[i - 1]] > 0) {
      ap += best_precision;
      tp -= 1;
    }
  }
  return ap / positives;
}

double sklearn(const std::vector<std::uint32_t>& order, const float* scores,
               const float* targets, double positives) {
  double ap = 0, tp = 0, previous_recall = 0;
  for (std::size_t i = 0; i < order.size(); ++i) {
    tp += targets[order[i]] > 0 ? 1 : 0;
    const bool threshold_ends =
        i + 1 == order.size() || scores[order[i + 1]] != scores[order[i]];
    if (!threshold_ends) continue;
    const double recall = tp / positives;
    ap += (recall - previous_recall) * tp / static_cast<double>(i + 1);
    previous_recall = recall;
  }
  return ap;
}

}  // namespace

const std::vector<std::uint32_t>& AveragePrecision::rank(const float* scores,
                                                         std::size_t n) {
  // LSD radix sort on the scores' bits, 11 bits a pass: linear in the
  // samples, and stable, so ties keep their input order.
  constexpr int kBits = 11;
  constexpr std::uint32_t kBuckets = 1u << kBits;
  keys_.resize(n);
  keys_next_.resize(n);
  order_.resize(n);
  order_next_.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    // -0 == +0 for the ranking: a tie, as a comparison sort has it.
    const float score = scores[i] == 0.0f ? 0.0f : scores[i];
    std::uint32_t bits;
    std::memcpy(&bits, &score, sizeof bits);
    // Order-preserving map of floats to unsigned integers (negatives
    // reversed), inverted so that the highest score comes first.
    bits = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
    keys_[i] = ~bits;
    order_[i] = static_cast<std::uint32_t>(i);
  }
  count_.resize(kBuckets);
  for (int shift = 0; shift < 32; shift += kBits) {
    std::fill(count_.begin(), count_.end(), 0);
    for (std::size_t i = 0; i < n; ++i) {
      ++count_[(keys_[i] >> shift) & (kBuckets - 1)];
    }
    std::exclusive_scan(count_.begin(), count_.end(), count_.begin(), 0u);
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint32_t to = count_[(keys_[i] >> shift) & (kBuckets - 1)]++;
      keys_next_[to] = keys_[i];
      order_next_[to] = order_[i];
    }
    keys_.swap(keys_next_);
    order_.swap(order_next_);
  }
  return order_;
}

double AveragePrecision::operator()(const float* scores, const float* targets,
                                    std::size_t n) {
  double positives = 0;
  for (std::size_t i = 0; i < n; ++i) positives += targets[i] > 0 ? 1 : 0;
  if (positives == 0) return std::numeric_limits<double>::quiet_NaN();
  const std::vector<std::uint32_t>& order = rank(scores, n);
  return mode_ == ApMode::kVocInterpolated
             ? vocInterpolated(order, targets, positives)
             : sklearn(order, scores, targets, positives);
}

}  // namespace labrun::map_metric
