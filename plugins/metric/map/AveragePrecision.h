// Average precision of one class from scores and binary labels.
#pragma once

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

// The samples by descending score; tied scores (-0 and +0 too) keep their
// input order, as a stable sort has them.
std::vector<std::size_t> rankByScore(const std::vector<float>& scores);

// scores[i], labels[i] (1 positive, 0 negative) of the samples that count.
// Returns NaN when there is no positive sample (AP undefined).
double averagePrecision(const std::vector<float>& scores,
                        const std::vector<std::uint8_t>& labels, ApMode mode);

}  // namespace labrun::map_metric
