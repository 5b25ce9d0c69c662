// Training progress as a stage: a bar or plain lines (train/Progress) for
// the steps of each epoch, and a recorder flush every train.log_every
// steps. The bar ends before the epoch's results are printed.
#pragma once

#include "train/Progress.h"
#include "train/TrainStage.h"

namespace labrun::train {

class ProgressStage : public TrainStage {
 public:
  explicit ProgressStage(TrainLoop& loop);

  void beforeEpoch(TrainLoop& loop) override;
  void afterStep(TrainLoop& loop, const StepEnd& step) override;
  void afterTrainSteps(TrainLoop& loop) override;

 private:
  Progress progress_;
};

}  // namespace labrun::train
