#include "train/ScheduleStage.h"

#include "train/TrainerOptions.h"

namespace labrun::train {

ScheduleStage::ScheduleStage(TrainLoop& loop)
    : schedule_(loop.options().schedule, loop.stepsPerEpoch(),
                loop.stepsPerEpoch() * loop.options().epochs) {
  schedule_.attach(loop.optimizer());
}

void ScheduleStage::load(torch::serialize::InputArchive& checkpoint) {
  torch::serialize::InputArchive schedule;
  checkpoint.read("schedule", schedule);
  schedule_.load(schedule);
}

void ScheduleStage::save(torch::serialize::OutputArchive& checkpoint) const {
  torch::serialize::OutputArchive schedule;
  schedule_.save(schedule);
  checkpoint.write("schedule", schedule);
}

void ScheduleStage::beforeUpdate(TrainLoop& loop) {
  schedule_.apply(loop.optimizer(), loop.state().step);
}

void ScheduleStage::afterEpoch(TrainLoop& /*loop*/, const Metrics& values) {
  for (const auto& [key, value] : values) schedule_.observe(key, value);
}

}  // namespace labrun::train
