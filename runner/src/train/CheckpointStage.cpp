#include "train/CheckpointStage.h"

#include <torch/torch.h>

#include "train/RunRecorder.h"
#include "train/TrainerOptions.h"

namespace labrun::train {

void CheckpointStage::load(torch::serialize::InputArchive& checkpoint) {
  torch::Tensor best;
  if (checkpoint.try_read("best", best)) best_ = best.item<double>();
}

void CheckpointStage::save(torch::serialize::OutputArchive& checkpoint) const {
  if (best_) checkpoint.write("best", torch::tensor(*best_, torch::kDouble));
}

void CheckpointStage::afterStep(TrainLoop& loop, const StepEnd& step) {
  const std::int64_t every = loop.options().checkpoint_every_steps;
  const bool periodic = every > 0 && loop.state().step % every == 0;
  // The epoch's end has a checkpoint of its own, after validation.
  if (loop.stopping() || (periodic && !step.epoch_done)) {
    checkpoint(loop, std::nullopt);
  }
}

void CheckpointStage::afterEpoch(TrainLoop& loop, const Metrics& values) {
  std::optional<double> tracked;
  if (auto it = values.find(loop.options().best_by); it != values.end()) {
    tracked = it->second;
  }
  checkpoint(loop, tracked);
}

void CheckpointStage::checkpoint(TrainLoop& loop,
                                 std::optional<double> tracked) {
  const bool best =
      tracked && (!best_ || (loop.options().best_max ? *tracked > *best_
                                                     : *tracked < *best_));
  if (best) best_ = tracked;
  // What was logged up to this state is stored before the checkpoint that
  // resumes after it: a crash in between would lose it for good (found by
  // the kill tests). First, so that a process whose run was resumed
  // elsewhere meanwhile stops here (the store checks its claim) rather than
  // put its file over one the new owner recorded.
  loop.recorder().sync();
  const std::string path = loop.writeCheckpoint();
  // The epoch that produced this state (an epoch-end save has moved on).
  const TrainState& state = loop.state();
  const std::int64_t epoch =
      state.batches_done == 0 ? state.epoch - 1 : state.epoch;
  loop.recorder().checkpoint(state.step, epoch, path, tracked, best);
}

}  // namespace labrun::train
