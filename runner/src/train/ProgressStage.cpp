#include "train/ProgressStage.h"

#include "train/RunRecorder.h"
#include "train/TrainerOptions.h"

namespace labrun::train {

ProgressStage::ProgressStage(TrainLoop& loop)
    : progress_(loop.log(), loop.options().terminal, loop.options().quiet,
                loop.options().log_every, loop.options().epochs,
                loop.stepsPerEpoch()) {}

void ProgressStage::beforeEpoch(TrainLoop& loop) {
  progress_.startEpoch(loop.state().epoch,
                       loop.state().batches_done / loop.microBatchesPerStep());
}

void ProgressStage::afterStep(TrainLoop& loop, const StepEnd& step) {
  progress_.step(step.step_in_epoch, step.loss, step.images);
  const std::int64_t every = loop.options().log_every;
  if (every > 0 && loop.state().step % every == 0) loop.recorder().sync();
}

void ProgressStage::afterTrainSteps(TrainLoop& /*loop*/) {
  progress_.endEpoch();
}

}  // namespace labrun::train
