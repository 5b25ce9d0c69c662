// SIGINT/SIGTERM as a stage (train/StopSignal): from the start of training,
// a first signal stops the loop after the step in progress (or at the
// epoch's end), as an unfinished run; the checkpoint stage saves first.
#pragma once

#include <optional>

#include "train/StopSignal.h"
#include "train/TrainStage.h"

namespace labrun::train {

class SignalStage : public TrainStage {
 public:
  void beforeRun(TrainLoop& loop, const Metrics& sanity) override;
  void afterUpdate(TrainLoop& loop) override;
  void afterEpoch(TrainLoop& loop, const Metrics& values) override;

 private:
  void poll(TrainLoop& loop) const;

  std::optional<StopSignal> handlers_;  // installed by beforeRun
};

}  // namespace labrun::train
