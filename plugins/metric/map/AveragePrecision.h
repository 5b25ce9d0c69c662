// Average precision of one class from scores and binary labels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace labrun::map_metric {

enum class ApMode {
  // The released SSGRL evaluation (VOC 2010+): precision made monotone from
  // the right, summed over every recall step ("all points"). Samples are
  // ranked by descending score; ties keep their input order (stable sort).
  kVocInterpolated,
  // scikit-learn's average_precision_score: no interpolation, and tied
  // scores form one threshold (one precision/recall point).
  kSklearn,
};

// Computes the AP of class after class, reusing its buffers: a class of
// COCO val2014 has 40,504 samples, and fresh buffers of that size each
// time cost more in page faults than the ranking itself. One per thread.
class AveragePrecision {
 public:
  explicit AveragePrecision(ApMode mode) : mode_(mode) {}

  // scores[i], targets[i] (> 0 positive) of the n samples that count.
  // Returns NaN when there is no positive sample (AP undefined).
  double operator()(const float* scores, const float* targets, std::size_t n);

  // The n samples by descending score; tied scores (-0 and +0 too) keep
  // their input order, as a stable sort has them. Valid until the next
  // call.
  const std::vector<std::uint32_t>& rank(const float* scores, std::size_t n);

 private:
  ApMode mode_;
  std::vector<std::uint32_t> keys_, keys_next_, order_, order_next_;
  std::vector<std::uint32_t> count_;
};

}  // namespace labrun::map_metric
