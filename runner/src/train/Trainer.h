// The training loop: epochs of optimizer steps, evaluation at epoch end and
// checkpoints, reported to a RunRecorder.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <torch/optim/optimizer.h>

#include "data/Dataset.h"
#include "labrun/Loss.h"
#include "labrun/Metric.h"
#include "train/Model.h"

namespace labrun::train {

// Where the loop reports what happens; the run store implements it.
class RunRecorder {
 public:
  virtual ~RunRecorder() = default;
  virtual void metric(const std::string& key, std::int64_t step,
                      std::int64_t epoch, double value) = 0;
  virtual void classMetric(std::int64_t epoch, const std::string& metric,
                           const std::vector<std::string>& class_names,
                           const MetricResult& result) = 0;
  virtual void checkpoint(std::int64_t step, std::int64_t epoch,
                          const std::string& path,
                          std::optional<double> tracked, bool best) = 0;
  // Called at progress points so the recorder can flush and heartbeat.
  virtual void sync() = 0;
};

struct NamedMetric {
  std::string name;  // plugin name, for messages
  std::shared_ptr<Metric> metric;
};

struct TrainerOptions {
  std::int64_t epochs = 1;
  std::int64_t log_every = 10;
  bool save_checkpoints = true;
  std::string checkpoint_dir;  // created when needed
  torch::Device device = torch::kCPU;
};

class Trainer {
 public:
  Trainer(Model model, std::shared_ptr<Loss> loss,
          std::vector<NamedMetric> metrics,
          std::unique_ptr<torch::optim::Optimizer> optimizer,
          TrainerOptions options, RunRecorder& recorder, std::ostream& log);

  // Trains on `train`, evaluating on `val` after every epoch.
  void fit(data::BatchSource& train, data::BatchSource& val);

  // Evaluates on `source`; records "<split>/loss" and every metric scalar.
  // Returns the first metric's first scalar (the tracked value), if any.
  std::optional<double> evaluate(data::BatchSource& source,
                                 const std::string& split, std::int64_t step,
                                 std::int64_t epoch);

 private:
  void saveCheckpoint(std::int64_t step, std::int64_t epoch,
                      std::optional<double> tracked);

  Model model_;
  std::shared_ptr<Loss> loss_;
  std::vector<NamedMetric> metrics_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  TrainerOptions options_;
  RunRecorder& recorder_;
  std::ostream& log_;
  std::optional<double> best_;
};

// Writes `write(tmp_path)` to a temporary file, fsyncs it and renames it over
// `path`, so a crash leaves either the old file or the complete new one.
void writeFileAtomically(const std::string& path,
                         const std::function<void(const std::string&)>& write);

}  // namespace labrun::train
