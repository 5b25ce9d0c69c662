// An evaluation metric, accumulated over batches.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <torch/types.h>

namespace labrun {

struct MetricResult {
  // Named scalars, e.g. {"mAP", 81.2}; stored as "<split>/<name>", or
  // "<split>/<name>@<label>" for a labelled instance (several of a plugin).
  std::vector<std::pair<std::string, double>> scalars;
  // Name of the per-class value (e.g. "AP"); empty when there is none.
  std::string per_class_name;
  // One entry per class; NaN where the class is undefined (no positives).
  std::vector<double> per_class;
  // Positive count per class in the evaluated set (same length).
  std::vector<std::int64_t> positives;
  // Human-readable remarks, e.g. which classes were left out of a mean.
  std::vector<std::string> notes;
};

class Metric {
 public:
  virtual ~Metric() = default;
  virtual void reset() = 0;
  // scores: [B, K] float32 logits, the model's raw outputs (higher = more
  // confident; apply a sigmoid for probabilities: ranking logits keeps
  // apart what float32 probabilities tie at 1); targets: [B, K] in {0, 1};
  // mask: [B, K], 0 = ignored label. All three on the model's device: a
  // copy to the CPU here would make the host wait for the device every
  // batch (AccumulatingMetric keeps them there until compute()).
  virtual void update(const torch::Tensor& scores,
                      const torch::Tensor& targets,
                      const torch::Tensor& mask) = 0;
  virtual MetricResult compute() const = 0;
  // Every name compute() can put in MetricResult::scalars, without the
  // split prefix or instance label ({"mAP", "mAP_classes"}), even those a
  // given result lacks (mAP when no class has positives). The runner checks
  // the keys a spec watches (train.early_stop.metric, checkpoint.best_by,
  // schedule.metric) against them before it records a run. Empty: known
  // only at run time, and nothing is checked. Pure, not defaulting to
  // empty: an out-of-tree metric would then silently lose the check.
  virtual std::vector<std::string> keys() const = 0;
};

}  // namespace labrun
