// Early stopping (train.early_stop) as a stage: ends the run as finished
// once the watched validation value has not improved for `patience`
// evaluations. Its state (best value and its epoch, evaluations without
// improvement) is kept under "early_stop", so a resumed run stops at the
// epoch an uninterrupted one would.
#pragma once

#include <cstdint>
#include <string>

#include "store/HeadlineMetric.h"
#include "train/TrainStage.h"

namespace labrun::train {

struct EarlyStopOptions {
  std::string metric = store::kHeadlineMetric;  // a recorded validation key
  bool maximize = true;            // mode: max (true) or min
  std::int64_t patience = 3;       // evaluations without improvement
  double min_delta = 0.0;          // smallest change that improves
  std::string origin;              // where the spec set metric, for errors
};

class EarlyStopStage : public TrainStage {
 public:
  explicit EarlyStopStage(EarlyStopOptions options);

  void load(torch::serialize::InputArchive& checkpoint) override;
  void save(torch::serialize::OutputArchive& checkpoint) const override;
  // Checks the watched key against the sanity evaluation's keys; a run
  // resumed after the stop stops again at once.
  void beforeRun(TrainLoop& loop, const Metrics& sanity) override;
  // Records "train/early_stop" (value: the best value's epoch) when it
  // stops the run.
  void afterEpoch(TrainLoop& loop, const Metrics& values) override;

 private:
  // Throws when `values` lack the watched key, naming the keys they have.
  void requireKey(const Metrics& values, const std::string& key) const;
  std::string reason() const;

  EarlyStopOptions options_;
  bool has_best_ = false;
  double best_ = 0;
  std::int64_t best_epoch_ = 0;
  std::int64_t bad_evaluations_ = 0;
  bool stopped_ = false;
};

}  // namespace labrun::train
