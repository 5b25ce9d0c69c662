// What a training stage (train/TrainStage.h) sees of the loop, and asks
// of it; Trainer implements it.
#pragma once

#include <torch/optim/optimizer.h>

#include <cstdint>
#include <map>
#include <ostream>
#include <string>

#include "train/Model.h"

namespace labrun::train {

struct TrainerOptions;
class RunRecorder;

// Where training stands; a checkpoint restores exactly this.
struct TrainState {
  std::int64_t step = 0;          // optimizer steps done
  std::int64_t epoch = 1;         // epoch in progress (1-based)
  std::int64_t batches_done = 0;  // micro-batches of `epoch` consumed
  double epoch_loss_sum = 0;
  std::int64_t epoch_steps = 0;
  std::int64_t epoch_images = 0;
};

// Validation values of one epoch by recorded key ("val/mAP", "val/loss").
using Metrics = std::map<std::string, double>;

// How fit ended: kFinished (all epochs, or a stage such as early stopping
// ended the run as complete) or kStopped (a signal: the run is unfinished).
enum class FitEnd { kFinished, kStopped };

// One optimizer step as the ranks agreed on it.
struct StepEnd {
  std::int64_t step_in_epoch = 0;  // 1-based
  double loss = 0;                 // mean over the step's micro-batches
  std::int64_t images = 0;         // of the whole group
  bool epoch_done = false;         // the epoch's last step
};

class TrainLoop {
 public:
  virtual const TrainerOptions& options() const = 0;
  // Steps done, the epoch in progress and the position in it. In afterEpoch
  // it already describes the next epoch (as the checkpoint saved then).
  virtual const TrainState& state() const = 0;
  virtual std::int64_t stepsPerEpoch() const = 0;
  virtual std::int64_t microBatchesPerStep() const = 0;
  virtual Model& model() = 0;
  virtual torch::optim::Optimizer& optimizer() = 0;
  virtual RunRecorder& recorder() = 0;
  // The run's log (progress, results).
  virtual std::ostream& log() = 0;
  // Validates the model as it now is; adds "<split>/<key>" values.
  virtual void evaluate(const std::string& split, Metrics& values) = 0;
  // Writes a checkpoint of the loop and of every stage; returns its path.
  virtual std::string writeCheckpoint() = 0;
  // Ends the run after the current step or epoch; the first request wins.
  virtual void requestStop(FitEnd end, const std::string& reason) = 0;
  virtual bool stopping() const = 0;

 protected:
  ~TrainLoop() = default;
};

}  // namespace labrun::train
