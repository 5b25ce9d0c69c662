#include "AveragePrecision.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace labrun::map_metric {
namespace {

double vocInterpolated(const std::vector<std::size_t>& order,
                       const std::vector<std::uint8_t>& labels,
                       double positives) {
  const std::size_t n = order.size();
  // Precision/recall after each ranked sample, with the VOC sentinels
  // (recall 0 and 1, precision 0) around them.
  std::vector<double> recall(n + 2, 0.0), precision(n + 2, 0.0);
  double tp = 0;
  for (std::size_t i = 0; i < n; ++i) {
    tp += labels[order[i]];
    recall[i + 1] = tp / positives;
    precision[i + 1] = tp / static_cast<double>(i + 1);
  }
  recall[n + 1] = 1.0;
  for (std::size_t i = n + 1; i > 0; --i) {
    precision[i - 1] = std::max(precision[i - 1], precision[i]);
  }
  double ap = 0;
  for (std::size_t i = 0; i + 1 < recall.size(); ++i) {
    if (recall[i + 1] != recall[i]) {
      ap += (recall[i + 1] - recall[i]) * precision[i + 1];
    }
  }
  return ap;
}

double sklearn(const std::vector<std::size_t>& order,
               const std::vector<float>& scores,
               const std::vector<std::uint8_t>& labels, double positives) {
  double ap = 0, tp = 0, previous_recall = 0;
  for (std::size_t i = 0; i < order.size(); ++i) {
    tp += labels[order[i]];
    const bool threshold_ends = i + 1 == order.size() ||
                                scores[order[i + 1]] != scores[order[i]];
    if (!threshold_ends) continue;
    const double recall = tp / positives;
    ap += (recall - previous_recall) * tp / static_cast<double>(i + 1);
    previous_recall = recall;
  }
  return ap;
}

}  // namespace

double averagePrecision(const std::vector<float>& scores,
                        const std::vector<std::uint8_t>& labels, ApMode mode) {
  const double positives =
      std::accumulate(labels.begin(), labels.end(), 0.0);
  if (positives == 0) return std::numeric_limits<double>::quiet_NaN();
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return scores[a] > scores[b];
  });
  return mode == ApMode::kVocInterpolated
             ? vocInterpolated(order, labels, positives)
             : sklearn(order, scores, labels, positives);
}

}  // namespace labrun::map_metric
