// A base for metrics computed over a whole split at once (mAP, F1...): it
// keeps every batch's scores, targets and mask on the CPU until compute().
#pragma once

#include <torch/torch.h>

#include <vector>

#include "labrun/Metric.h"

namespace labrun {

class AccumulatingMetric : public Metric {
 public:
  void reset() override {
    scores_.clear();
    targets_.clear();
    masks_.clear();
  }

  void update(const torch::Tensor& scores, const torch::Tensor& targets,
              const torch::Tensor& mask) override {
    scores_.push_back(scores.detach().to(torch::kCPU, torch::kFloat));
    targets_.push_back(targets.detach().to(torch::kCPU, torch::kFloat));
    masks_.push_back(mask.detach().to(torch::kCPU, torch::kFloat));
  }

 protected:
  bool empty() const { return scores_.empty(); }
  // All batches so far, [N, K] float32, contiguous.
  torch::Tensor allScores() const { return torch::cat(scores_).contiguous(); }
  torch::Tensor allTargets() const { return torch::cat(targets_).contiguous(); }
  torch::Tensor allMasks() const { return torch::cat(masks_).contiguous(); }
  // The same as [K, N], one contiguous row per class, copied once (for
  // metrics that go class by class, such as AP).
  torch::Tensor allScoresByClass() const { return byClass(scores_); }
  torch::Tensor allTargetsByClass() const { return byClass(targets_); }
  torch::Tensor allMasksByClass() const { return byClass(masks_); }

 private:
  static torch::Tensor byClass(const std::vector<torch::Tensor>& batches) {
    std::int64_t rows = 0;
    for (const torch::Tensor& batch : batches) rows += batch.size(0);
    torch::Tensor out =
        torch::empty({batches.front().size(1), rows}, torch::kFloat);
    std::int64_t at = 0;
    for (const torch::Tensor& batch : batches) {
      out.narrow(/*dim=*/1, at, batch.size(0)).copy_(batch.t());
      at += batch.size(0);
    }
    return out;
  }

  std::vector<torch::Tensor> scores_, targets_, masks_;
};

}  // namespace labrun
