// A base for metrics computed over a whole split at once (mAP, F1...): it
// keeps every batch's scores, targets and mask where they come from (the
// model's device) until compute(), which reads them on the CPU. A copy to
// the CPU in update() would make the host wait for the device every batch.
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
    scores_.push_back(scores.detach().to(torch::kFloat));
    targets_.push_back(targets.detach().to(torch::kFloat));
    masks_.push_back(mask.detach().to(torch::kFloat));
  }

 protected:
  bool empty() const { return scores_.empty(); }
  // All batches so far, [N, K] float32 on the CPU, contiguous.
  torch::Tensor allScores() const { return onCpu(scores_); }
  torch::Tensor allTargets() const { return onCpu(targets_); }
  torch::Tensor allMasks() const { return onCpu(masks_); }
  // The same as [K, N], one contiguous row per class, copied once (for
  // metrics that go class by class, such as AP).
  torch::Tensor allScoresByClass() const { return byClass(scores_); }
  torch::Tensor allTargetsByClass() const { return byClass(targets_); }
  torch::Tensor allMasksByClass() const { return byClass(masks_); }

 private:
  static torch::Tensor onCpu(const std::vector<torch::Tensor>& batches) {
    return torch::cat(batches).to(torch::kCPU).contiguous();
  }

  static torch::Tensor byClass(const std::vector<torch::Tensor>& batches) {
    // Off the CPU, transposed there and copied back once.
    if (!batches.front().is_cpu()) {
      return torch::cat(batches).t().contiguous().to(torch::kCPU);
    }
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
