// Training stages: what the loop does besides forward, backward and the
// optimizer step (schedule, weight average, progress, early stopping,
// checkpoints, signals), each as one object that keeps its own state and
// saves it in the checkpoint.
//
// The loop (Trainer::fit) calls every stage's hook in the stages' order,
// which is fixed (makeStages, train/DefaultStages.cpp):
//
//   ScheduleStage, EmaStage, ProgressStage, EarlyStopStage,
//   CheckpointStage, SignalStage, then stages added with Trainer::addStage
//
// so that, e.g., the weight average is updated before a checkpoint saves it
// and early stopping has decided before the epoch's checkpoint records its
// state. A run goes:
//
//   [restore: load() of each stage] or [sanity evaluation]
//   beforeRun
//   per epoch:  beforeEpoch
//               per optimizer step: beforeUpdate, optimizer step,
//                                   afterUpdate, (ranks agree), afterStep
//               afterTrainSteps
//               [validation: the model, then validate]
//               afterEpoch
//
// The loop stops after a step or an epoch once a stage has asked it to
// (TrainLoop::requestStop) on any rank.
#pragma once

#include <torch/serialize/archive.h>

#include "train/TrainLoop.h"

namespace labrun::train {

class TrainStage {
 public:
  virtual ~TrainStage() = default;

  // Restores the state save() wrote (resumed runs, before beforeRun). Reads
  // only its own keys; a checkpoint written without them leaves the stage
  // as new unless the stage cannot go on without them (it throws).
  virtual void load(torch::serialize::InputArchive& /*checkpoint*/) {}
  // Adds its state to a checkpoint under its own keys (its name, e.g.
  // "schedule", "ema", "early_stop"; listed in docs/ARCHITECTURE.md).
  virtual void save(torch::serialize::OutputArchive& /*checkpoint*/) const {}

  // Once, before the first epoch; `sanity` holds the sanity evaluation's
  // val/* values of a new run (empty when resumed or when it is off).
  virtual void beforeRun(TrainLoop& /*loop*/, const Metrics& /*sanity*/) {}
  virtual void beforeEpoch(TrainLoop& /*loop*/) {}
  // Gradients are ready (accumulated, averaged over ranks, clipped).
  virtual void beforeUpdate(TrainLoop& /*loop*/) {}
  // The weights have been updated and state().step counts this step; the
  // ranks have not yet agreed on stopping (a request here joins this step).
  virtual void afterUpdate(TrainLoop& /*loop*/) {}
  // The step's loss is recorded; stopping() says whether the loop stops now.
  virtual void afterStep(TrainLoop& /*loop*/, const StepEnd& /*step*/) {}
  // The epoch's steps are over (all done, or the loop stops mid-epoch).
  virtual void afterTrainSteps(TrainLoop& /*loop*/) {}
  // After the model's validation pass, before its values are recorded: a
  // stage may add values of its own (EmaStage: val_ema/*).
  virtual void validate(TrainLoop& /*loop*/, Metrics& /*values*/) {}
  // After the epoch, with its validation values (empty when it had none).
  virtual void afterEpoch(TrainLoop& /*loop*/, const Metrics& /*values*/) {}
};

}  // namespace labrun::train
