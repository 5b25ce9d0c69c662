// The weight average (optim.ema) as a stage: updated after each optimizer
// step, validated alongside the model as val_ema/*, kept under "ema".
#pragma once

#include "train/Ema.h"
#include "train/TrainStage.h"

namespace labrun::train {

class EmaStage : public TrainStage {
 public:
  // Starts the average at the model's current weights.
  EmaStage(TrainLoop& loop, double decay);

  // A checkpoint without an average cannot continue one: throws.
  void load(torch::serialize::InputArchive& checkpoint) override;
  void save(torch::serialize::OutputArchive& checkpoint) const override;
  void afterUpdate(TrainLoop& loop) override;
  void validate(TrainLoop& loop, Metrics& values) override;

 private:
  Ema ema_;
};

}  // namespace labrun::train
