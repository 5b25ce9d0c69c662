// Dynamic loss scaling for fp16 training, as torch.cuda.amp.GradScaler
// does it: the loss is multiplied by a scale before backward so that small
// gradients survive fp16's range; the gradients are divided by it before the
// update. A step whose gradients (or loss) are not finite is skipped and
// the scale halved; after `growth_interval` good steps in a row it doubles.
// Its state lives in the checkpoint, so a resumed run scales as the
// uninterrupted one.
#pragma once

#include <torch/serialize/archive.h>
#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace labrun::train {

struct LossScalerOptions {
  double init_scale = 65536.0;  // 2^16, GradScaler's default
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  std::int64_t growth_interval = 2000;
  // Below this the overflow is no longer fp16's range but the run's own
  // divergence: the run fails as an fp32 run does on a non-finite loss.
  double min_scale = 1.0;
};

class LossScaler {
 public:
  explicit LossScaler(LossScalerOptions options = {});

  // loss * scale.
  torch::Tensor scale(const torch::Tensor& loss) const;
  // Divides every defined gradient of `parameters` by the scale and says
  // whether all of them are finite (one host synchronisation for all).
  bool unscale(const std::vector<torch::Tensor>& parameters) const;
  // After a step: `finite` false halves the scale and restarts the count of
  // good steps; growth_interval good steps in a row double it. Returns
  // false when the scale fell below min_scale.
  bool update(bool finite);

  double currentScale() const { return scale_; }
  std::int64_t skippedSteps() const { return skipped_; }

  void save(torch::serialize::OutputArchive& archive) const;
  // Throws std::runtime_error when `archive` holds no scaler state.
  void load(torch::serialize::InputArchive& archive);

 private:
  LossScalerOptions options_;
  double scale_;
  std::int64_t good_steps_ = 0;
  std::int64_t skipped_ = 0;
};

}  // namespace labrun::train
