#include "train/DefaultStages.h"

#include "train/CheckpointStage.h"
#include "train/EarlyStopStage.h"
#include "train/EmaStage.h"
#include "train/ProgressStage.h"
#include "train/ScheduleStage.h"
#include "train/SignalStage.h"
#include "train/TrainerOptions.h"

namespace labrun::train {

std::vector<std::unique_ptr<TrainStage>> makeStages(TrainLoop& loop) {
  const TrainerOptions& options = loop.options();
  std::vector<std::unique_ptr<TrainStage>> stages;
  stages.push_back(std::make_unique<ScheduleStage>(loop));
  if (options.ema_decay > 0) {
    stages.push_back(std::make_unique<EmaStage>(loop, options.ema_decay));
  }
  stages.push_back(std::make_unique<ProgressStage>(loop));
  if (options.early_stop) {
    stages.push_back(std::make_unique<EarlyStopStage>(*options.early_stop));
  }
  if (options.save_checkpoints) {
    stages.push_back(std::make_unique<CheckpointStage>());
  }
  stages.push_back(std::make_unique<SignalStage>());
  return stages;
}

}  // namespace labrun::train
