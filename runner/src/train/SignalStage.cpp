#include "train/SignalStage.h"

#include <fmt/format.h>

namespace labrun::train {

void SignalStage::afterUpdate(TrainLoop& loop) { poll(loop); }

void SignalStage::afterEpoch(TrainLoop& loop, const Metrics& /*values*/) {
  poll(loop);
}

void SignalStage::poll(TrainLoop& loop) const {
  if (StopSignal::requested()) {
    loop.requestStop(FitEnd::kStopped,
                     fmt::format("stopped by signal {} at step {}",
                                 StopSignal::signal(), loop.state().step));
  }
}

}  // namespace labrun::train
