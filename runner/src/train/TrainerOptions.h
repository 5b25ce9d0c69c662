// What the training loop is asked to do; its own header, so that the
// stages and the spec's binding need none of the loop.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "store/HeadlineMetric.h"
#include "train/EarlyStopStage.h"
#include "train/LossScaler.h"
#include "train/LrSchedule.h"
#include "train/Precision.h"

namespace labrun::dist {
class Collective;
}  // namespace labrun::dist

namespace labrun::train {

struct TrainerOptions {
  std::int64_t epochs = 1;
  std::int64_t accumulate = 1;  // micro-batches per optimizer step
  double clip_grad_norm = 0;    // 0: no clipping
  double ema_decay = 0;         // 0: no weight average
  std::int64_t eval_every_epochs = 1;
  std::int64_t sanity_batches = 2;  // validation batches run before training
  bool save_checkpoints = true;
  std::int64_t checkpoint_every_steps = 0;  // 0: at epoch ends only
  std::string checkpoint_dir;
  std::string best_by =
      store::kHeadlineMetric;  // metric key ranking checkpoints
  bool best_max = true;
  ScheduleOptions schedule;
  std::optional<EarlyStopOptions> early_stop;  // none: train all epochs
  torch::Device device = torch::kCPU;
  // The forward pass's arithmetic (train.precision); evaluation stays
  // float32.
  Precision precision = Precision::kFp32;
  // Dynamic loss scaling (fp16): steps with non-finite gradients are
  // skipped, not fatal. None: a non-finite loss stops the run.
  std::optional<LossScalerOptions> loss_scaling;
  std::int64_t log_every = 10;
  bool quiet = false;
  bool terminal = false;  // draw a progress bar
  // Data-parallel training: gradients are averaged over the ranks after
  // backward, steps agree on the loss and on stopping, evaluations gather
  // every rank's scores. nullptr: one process.
  dist::Collective* collective = nullptr;
};

}  // namespace labrun::train
