#include "train/ClassThresholds.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdint>

#include "spec/SpecError.h"

namespace labrun::train {

std::vector<std::optional<double>> chooseF1Thresholds(
    const torch::Tensor& logits, const torch::Tensor& targets,
    const torch::Tensor& mask) {
  const torch::Tensor scores =
      logits.to(torch::kCPU, torch::kFloat).contiguous();
  const torch::Tensor positive =
      targets.to(torch::kCPU).gt(0).to(torch::kBool).contiguous();
  const torch::Tensor counted =
      mask.to(torch::kCPU).gt(0).to(torch::kBool).contiguous();
  const auto s = scores.accessor<float, 2>();
  const auto y = positive.accessor<bool, 2>();
  const auto m = counted.accessor<bool, 2>();
  const std::int64_t n = scores.size(0), classes = scores.size(1);
  std::vector<std::optional<double>> thresholds;
  std::vector<std::int64_t> order;
  for (std::int64_t k = 0; k < classes; ++k) {
    order.clear();
    std::int64_t positives = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      if (!m[i][k]) continue;
      order.push_back(i);
      positives += y[i][k] ? 1 : 0;
    }
    if (positives == 0) {
      thresholds.emplace_back();
      continue;
    }
    std::stable_sort(
        order.begin(), order.end(),
        [&](std::int64_t a, std::int64_t b) { return s[a][k] > s[b][k]; });
    // Lowering the threshold through the distinct scores, highest first:
    // at score v, everything >= v is predicted. F1 = 2TP / (TP + FP + P),
    // compared as exact fractions; only a strictly better one replaces the
    // best, so ties keep the higher threshold.
    std::int64_t tp = 0, predicted = 0, best_tp = 0, best_denominator = 1;
    float best = 0;
    for (std::size_t j = 0; j < order.size(); ++j) {
      const float v = s[order[j]][k];
      ++predicted;
      tp += y[order[j]][k] ? 1 : 0;
      if (j + 1 < order.size() && s[order[j + 1]][k] == v) continue;
      const std::int64_t denominator = predicted + positives;
      if (2 * tp * best_denominator > 2 * best_tp * denominator) {
        best_tp = tp;
        best_denominator = denominator;
        best = v;
      }
    }
    thresholds.emplace_back(static_cast<double>(best));
  }
  return thresholds;
}

MetricResult prfAtThresholds(
    const plugins::PluginHost& host,
    const std::vector<std::optional<double>>& thresholds, double fallback,
    const torch::Tensor& logits, const torch::Tensor& targets,
    const torch::Tensor& mask, const std::vector<std::string>& class_names) {
  std::vector<float> cut;
  for (const auto& threshold : thresholds) {
    cut.push_back(static_cast<float>(threshold.value_or(fallback)));
  }
  const torch::Tensor scores = logits.to(torch::kCPU, torch::kFloat);
  ModelContext context;
  context.class_names = class_names;
  context.num_classes = static_cast<std::int64_t>(class_names.size());
  // prf as declared, at probability 0.5 (logit 0) and without top-k: the
  // scores shifted by each class's cut are above 0 where they pass it.
  const auto prf = host.makeMetric(
      "prf",
      host.defaultParams(PluginKind::kMetric, "prf",
                         {{"threshold", 0.5}, {"top_k", std::int64_t{0}}}),
      context);
  prf->update(scores - torch::tensor(cut).unsqueeze(0),
              targets.to(torch::kCPU, torch::kFloat),
              mask.to(torch::kCPU, torch::kFloat));
  return prf->compute();
}

std::optional<RunThresholds> runThresholds(const store::RunStore& store,
                                           const std::string& run,
                                           std::size_t classes) {
  const auto stored = store.newestThresholds(run);
  if (!stored) return std::nullopt;
  if (stored->classes.size() != classes) {
    throw spec::SpecError(fmt::format(
        "the per-class thresholds of evaluation {} of run {} are for {} "
        "classes, the model has {}",
        stored->evaluation, run, stored->classes.size(), classes));
  }
  RunThresholds thresholds;
  thresholds.evaluation = stored->evaluation;
  for (const auto& row : stored->classes)
    thresholds.logits.push_back(row.logit);
  return thresholds;
}

}  // namespace labrun::train
