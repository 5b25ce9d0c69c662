// Checkpoints as a stage: one at each epoch's end (ranked by
// checkpoint.best_by), every checkpoint.every_steps steps within an epoch,
// and one when the loop stops mid-epoch. Keeps the best value so far under
// "best".
#pragma once

#include <optional>

#include "train/TrainStage.h"

namespace labrun::train {

class CheckpointStage : public TrainStage {
 public:
  void load(torch::serialize::InputArchive& checkpoint) override;
  void save(torch::serialize::OutputArchive& checkpoint) const override;
  void afterStep(TrainLoop& loop, const StepEnd& step) override;
  void afterEpoch(TrainLoop& loop, const Metrics& values) override;

 private:
  // Writes a checkpoint and records it, ranked by `tracked` (the epoch's
  // value of best_by, if it has one).
  void checkpoint(TrainLoop& loop, std::optional<double> tracked);

  std::optional<double> best_;  // best value of best_by so far
};

}  // namespace labrun::train
