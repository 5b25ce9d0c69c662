// What the training loop reports; the run store's adapter implements it, so
// the loop and its stages are tested without a database.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "labrun/Metric.h"

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
  // Called at progress points so the recorder can flush.
  virtual void sync() = 0;
};

}  // namespace labrun::train
