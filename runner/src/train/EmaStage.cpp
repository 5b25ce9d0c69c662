#include "train/EmaStage.h"

#include <stdexcept>

namespace labrun::train {

EmaStage::EmaStage(TrainLoop& loop, double decay)
    : ema_(*loop.model(), decay) {}

void EmaStage::load(torch::serialize::InputArchive& checkpoint) {
  torch::serialize::InputArchive ema;
  if (!checkpoint.try_read("ema", ema)) {
    throw std::runtime_error("no weight average (ema) saved");
  }
  ema_.load(ema);
}

void EmaStage::save(torch::serialize::OutputArchive& checkpoint) const {
  torch::serialize::OutputArchive ema;
  ema_.save(ema);
  checkpoint.write("ema", ema);
}

void EmaStage::afterUpdate(TrainLoop& /*loop*/) { ema_.update(); }

void EmaStage::validate(TrainLoop& loop, Metrics& values) {
  ema_.swap();
  loop.evaluate("val_ema", values);
  ema_.swap();
}

}  // namespace labrun::train
