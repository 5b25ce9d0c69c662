// The training loop: epochs of optimizer steps (with gradient accumulation
// and clipping) and validation; everything else it does (schedule, weight
// average, progress, early stopping, checkpoints, signals) is a stage
// (train/TrainStage.h), called in a fixed order.
#pragma once

#include <torch/optim/optimizer.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "data/Dataset.h"
#include "labrun/Loss.h"
#include "labrun/Metric.h"
#include "train/LossScaler.h"
#include "train/Model.h"
#include "train/RunRecorder.h"
#include "train/ScalarReadback.h"
#include "train/TrainStage.h"
#include "train/TrainerOptions.h"

namespace labrun::dist {
class Collective;
}  // namespace labrun::dist

namespace labrun::train {

class CheckpointReader;

struct NamedMetric {
  std::string name;  // plugin name, for messages
  std::shared_ptr<Metric> metric;
  // Tells this instance from others of the same plugin: its values are
  // recorded as "<name>@<label>" (e.g. val/mAP@ap=sklearn); "" = plain.
  std::string label;
};

// Scores and metric results of one pass over a split.
struct EvalResult {
  double loss = 0;
  // By plugin, in the spec's order; labelled instances' keys carry their
  // label ("mAP@ap=sklearn").
  std::vector<std::pair<std::string, MetricResult>> metrics;
  // When collected, in evaluation order (CPU): logits, targets and mask
  // [N, K] float32, and the set's index of each sample [N] int64.
  torch::Tensor logits, targets, mask, samples;
};

// The keys of the values a validation gives the stages (and records):
// "val/loss" and "val/<name>" for each name of each metric's keys(), as
// "<name>@<label>" for a labelled instance, and the same under "val_ema/"
// with a weight average (`ema`). nullopt when a metric names its values
// only at run time (an empty keys()).
std::optional<std::vector<std::string>> validationKeys(
    const std::vector<NamedMetric>& metrics, bool ema);

// Runs `model` over `batches` (at most `max_batches`; -1: all) in eval mode.
// With a `collective` and max_batches -1, `batches` is this rank's shard:
// the metrics are computed over the whole set from every rank's scores and
// the loss is the mean over all ranks' batches. Metrics are given logits.
// Throws std::runtime_error when two metrics report the same key.
EvalResult evaluateModel(Model& model, Loss& loss,
                         const std::vector<NamedMetric>& metrics,
                         data::BatchSource& batches, torch::Device device,
                         std::int64_t max_batches, bool collect_scores,
                         dist::Collective* collective = nullptr);

class Trainer : private TrainLoop {
 public:
  Trainer(Model model, std::shared_ptr<Loss> loss,
          std::vector<NamedMetric> metrics,
          std::unique_ptr<torch::optim::Optimizer> optimizer,
          TrainerOptions options, RunRecorder& recorder, std::ostream& log);
  ~Trainer();

  // Adds a stage after the standard ones (makeStages), before fit.
  void addStage(std::unique_ptr<TrainStage> stage);

  // Trains on `train`, evaluating on `val`; continues from the checkpoint
  // `resume_from` when given, which is released once restored (a whole
  // model's file need not stay in memory). Once. Returns kStopped when a signal
  // asked to stop (after a checkpoint), kFinished after the last epoch or when
  // a stage ended the run (stopReason() says why). Throws on a non-finite loss,
  // naming the step; with loss scaling, only once the scale falls below its
  // floor.
  FitEnd fit(data::BatchSource& train, data::BatchSource& val,
             std::unique_ptr<CheckpointReader> resume_from = nullptr);

  const TrainState& state() const override { return state_; }
  // Why the run ended before its last epoch; "" when it did not.
  const std::string& stopReason() const { return stop_reason_; }

 private:
  // TrainLoop, for the stages.
  const TrainerOptions& options() const override { return options_; }
  std::int64_t stepsPerEpoch() const override { return steps_per_epoch_; }
  std::int64_t microBatchesPerStep() const override { return accumulate_; }
  Model& model() override { return model_; }
  torch::optim::Optimizer& optimizer() override { return *optimizer_; }
  RunRecorder& recorder() override { return recorder_; }
  std::ostream& log() override { return log_; }
  void evaluate(const std::string& split, Metrics& values) override;
  std::string writeCheckpoint() override;
  void requestStop(FitEnd end, const std::string& reason) override;
  bool stopping() const override { return stop_.has_value(); }

  // Validates on `val` (the model, then the stages) and records the values.
  Metrics validate(std::int64_t epoch);
  // A stop asked on any rank stops all ranks at the same step (a
  // collective call in a data-parallel run); `loss` becomes the mean step
  // loss over the ranks.
  void agree(double& loss);
  // Loss scaling: unscales the gradients and updates the scale; false when
  // the step must be skipped (gradients or `loss_finite` not finite, on any
  // rank). Throws when the scale falls below its floor.
  bool unscaleGradients(const std::vector<torch::Tensor>& parameters,
                        bool loss_finite, std::int64_t epoch);
  void restore(CheckpointReader& checkpoint);

  Model model_;
  std::shared_ptr<Loss> loss_;
  std::vector<NamedMetric> metrics_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  TrainerOptions options_;
  RunRecorder& recorder_;
  std::ostream& log_;
  TrainState state_;
  std::int64_t steps_per_epoch_ = 0;
  std::int64_t accumulate_ = 1;
  std::optional<LossScaler> scaler_;  // with options_.loss_scaling
  ScalarReadback loss_readback_;      // the step's summed loss
  data::BatchSource* val_ = nullptr;  // during fit
  std::vector<std::unique_ptr<TrainStage>> stages_;  // in calling order
  std::optional<FitEnd> stop_;
  std::string stop_reason_;
};

// Writes `write(tmp_path)` to a temporary file, fsyncs it and renames it over
// `path`, so a crash leaves either the old file or the complete new one.
void writeFileAtomically(const std::string& path,
                         const std::function<void(const std::string&)>& write);

}  // namespace labrun::train
