// Per-class decision thresholds (`labrun eval --thresholds`): chosen to
// maximise each class's F1 on a split's scores, then scored with the prf
// metric plugin, and applied by `labrun predict`.
#pragma once

#include <torch/types.h>

#include <optional>
#include <string>
#include <vector>

#include "labrun/Metric.h"
#include "plugins/PluginHost.h"
#include "store/RunStore.h"

namespace labrun::train {

// For each class, the logit t for which predicting the class where
// logit >= t gives the highest F1 = 2TP / (2TP + FP + FN) over the labels
// that count (mask 1). The candidates are those labels' logits (as float32
// values, so comparing a float32 logit with t is exact); among thresholds
// of equal F1 the highest wins (the fewest predictions). A class without a
// positive label that counts has F1 0 at every threshold: nullopt, and
// whoever applies the thresholds uses a global one for it.
// logits, targets, mask: [N, K] (any float type, any device).
std::vector<std::optional<double>> chooseF1Thresholds(
    const torch::Tensor& logits, const torch::Tensor& targets,
    const torch::Tensor& mask);

// What the prf plugin (CP, CR, CF1, OP, OR, OF1 and per-class F1, without
// top-k) reports when class k is predicted where logit >= thresholds[k],
// or where logit >= `fallback` for a class without one. The plugin takes
// one global threshold: it is given logit - threshold, compared with 0
// (probability 0.5), which is exact in float32 (a difference of floats is
// zero only when they are equal, and keeps its sign).
MetricResult prfAtThresholds(
    const plugins::PluginHost& host,
    const std::vector<std::optional<double>>& thresholds, double fallback,
    const torch::Tensor& logits, const torch::Tensor& targets,
    const torch::Tensor& mask, const std::vector<std::string>& class_names);

// The thresholds of the newest evaluation of run `run` that has them.
struct RunThresholds {
  std::int64_t evaluation = 0;
  std::vector<std::optional<double>> logits;  // per class, as chosen
};
// Nothing when no evaluation of the run has thresholds; throws
// spec::SpecError naming the evaluation when they are not for `classes`
// classes.
std::optional<RunThresholds> runThresholds(const store::RunStore& store,
                                           const std::string& run,
                                           std::size_t classes);

}  // namespace labrun::train
