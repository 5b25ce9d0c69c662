#include "train/EarlyStopStage.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <stdexcept>
#include <utility>
#include <vector>

#include "train/RunRecorder.h"
#include "train/TrainerOptions.h"

namespace labrun::train {

EarlyStopStage::EarlyStopStage(EarlyStopOptions options)
    : options_(std::move(options)) {}

void EarlyStopStage::load(torch::serialize::InputArchive& checkpoint) {
  torch::Tensor state;
  if (!checkpoint.try_read("early_stop", state)) return;
  const auto values = state.accessor<double, 1>();
  has_best_ = values[0] != 0.0;
  best_ = values[1];
  best_epoch_ = static_cast<std::int64_t>(values[2]);
  bad_evaluations_ = static_cast<std::int64_t>(values[3]);
  stopped_ = values[4] != 0.0;
}

void EarlyStopStage::save(torch::serialize::OutputArchive& checkpoint) const {
  checkpoint.write(
      "early_stop",
      torch::tensor(
          {has_best_ ? 1.0 : 0.0, best_, static_cast<double>(best_epoch_),
           static_cast<double>(bad_evaluations_), stopped_ ? 1.0 : 0.0},
          torch::kDouble));
}

void EarlyStopStage::beforeRun(TrainLoop& loop, const Metrics& sanity) {
  if (!sanity.empty()) {
    // The sanity pass validates the model only: val_ema/* has val/* keys.
    const auto slash = options_.metric.find('/');
    requireKey(sanity, "val" + options_.metric.substr(slash));
  }
  if (stopped_) loop.requestStop(FitEnd::kFinished, reason());
}

void EarlyStopStage::afterEpoch(TrainLoop& loop, const Metrics& values) {
  if (values.empty() || stopped_) return;
  requireKey(values, options_.metric);
  const double value = values.at(options_.metric);
  const bool improved =
      !has_best_ || (options_.maximize ? value > best_ + options_.min_delta
                                       : value < best_ - options_.min_delta);
  const TrainState& state = loop.state();
  const std::int64_t epoch = state.epoch - 1;  // the state has moved on
  if (improved) {
    has_best_ = true;
    best_ = value;
    best_epoch_ = epoch;
    bad_evaluations_ = 0;
    return;
  }
  ++bad_evaluations_;
  // After the last epoch the run ends anyway: nothing was stopped early.
  if (bad_evaluations_ < options_.patience ||
      state.epoch > loop.options().epochs) {
    return;
  }
  stopped_ = true;
  loop.recorder().metric("train/early_stop", state.step, epoch,
                         static_cast<double>(best_epoch_));
  loop.log() << fmt::format("epoch {}: {}\n", epoch, reason()) << std::flush;
  loop.requestStop(FitEnd::kFinished, reason());
}

void EarlyStopStage::requireKey(const Metrics& values,
                                const std::string& key) const {
  if (values.count(key) != 0) return;
  std::vector<std::string> keys;
  for (const auto& entry : values) keys.push_back(entry.first);
  throw std::runtime_error(fmt::format(
      "{}: train.early_stop.metric: '{}' is not a validation value of this "
      "run; it records {}",
      options_.origin, key, fmt::join(keys, ", ")));
}

std::string EarlyStopStage::reason() const {
  return fmt::format(
      "stopped early: {} has not improved by more than {} for {} "
      "evaluations (best {:.4f} at epoch {})",
      options_.metric, options_.min_delta, bad_evaluations_, best_,
      best_epoch_);
}

}  // namespace labrun::train
