// The learning-rate schedule as a stage: sets the rate before each
// optimizer step, feeds plateau the epoch's validation values, and keeps
// its state under "schedule".
#pragma once

#include "train/LrSchedule.h"
#include "train/TrainStage.h"

namespace labrun::train {

class ScheduleStage : public TrainStage {
 public:
  // Takes the optimizer's current rates as the base rates.
  explicit ScheduleStage(TrainLoop& loop);

  void load(torch::serialize::InputArchive& checkpoint) override;
  void save(torch::serialize::OutputArchive& checkpoint) const override;
  void beforeUpdate(TrainLoop& loop) override;
  void afterEpoch(TrainLoop& loop, const Metrics& values) override;

 private:
  LrSchedule schedule_;
};

}  // namespace labrun::train
