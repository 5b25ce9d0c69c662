// SIGINT/SIGTERM as a stage (train/StopSignal): from the stage's making (the
// start of fit, before its sanity pass), a first signal stops the loop after
// the step in progress (or at the epoch's end), as an unfinished run; the
// checkpoint stage saves first. Before, a Ctrl-C in the sanity pass ended
// the process and left its run RUNNING until its heartbeat went stale.
#pragma once

#include "train/StopSignal.h"
#include "train/TrainStage.h"

namespace labrun::train {

class SignalStage : public TrainStage {
 public:
  void afterUpdate(TrainLoop& loop) override;
  void afterEpoch(TrainLoop& loop, const Metrics& values) override;

 private:
  void poll(TrainLoop& loop) const;

  StopSignal handlers_;
};

}  // namespace labrun::train
