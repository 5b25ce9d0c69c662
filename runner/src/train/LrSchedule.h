// Learning-rate schedules as a factor on each parameter group's base rate,
// a function of the optimizer step (and, for plateau, of past evaluations).
#pragma once

#include <torch/optim/optimizer.h>
#include <torch/serialize/archive.h>

#include <cstdint>
#include <string>
#include <vector>

#include "store/HeadlineMetric.h"

namespace labrun::train {

struct ScheduleOptions {
  // constant | step | multistep | cosine | onecycle | plateau
  std::string name = "constant";
  std::int64_t step_size = 30;             // step: epochs between decays
  std::vector<std::int64_t> milestones;    // multistep: epochs
  double gamma = 0.1;                      // step/multistep decay factor
  double min_factor = 0.0;                 // cosine: final lr / base lr
  double pct_start = 0.3;                  // onecycle: share of warm-up
  double div_factor = 25.0;                // onecycle: base / initial lr
  double final_div_factor = 1e4;           // onecycle: initial / final lr
  std::string plateau_metric =
      store::kHeadlineMetric;              // plateau: watched metric
  std::string plateau_mode = "max";        // plateau: max or min
  double plateau_factor = 0.1;             // plateau: decay factor
  std::int64_t patience = 2;               // plateau: epochs without gain
  double threshold = 1e-4;                 // plateau: relative improvement
  std::int64_t warmup_steps = 0;           // linear warm-up (any schedule)
  double warmup_start = 0.01;              // warm-up's first factor
};

class LrSchedule {
 public:
  // steps_per_epoch and total_steps count optimizer steps.
  LrSchedule(ScheduleOptions options, std::int64_t steps_per_epoch,
             std::int64_t total_steps);

  // Records each group's current lr as its base rate.
  void attach(torch::optim::Optimizer& optimizer);
  // Factor on the base rate before optimizer step `step` (0-based).
  double factor(std::int64_t step) const;
  // Sets every group's lr for optimizer step `step`; returns the factor.
  double apply(torch::optim::Optimizer& optimizer, std::int64_t step) const;
  // Plateau: an evaluation of the watched metric ended an epoch.
  void observe(const std::string& key, double value);

  void save(torch::serialize::OutputArchive& archive) const;
  void load(torch::serialize::InputArchive& archive);

 private:
  ScheduleOptions options_;
  std::int64_t steps_per_epoch_;
  std::int64_t total_steps_;
  std::vector<double> base_lrs_;
  // Plateau state.
  double plateau_scale_ = 1.0;
  double best_ = 0.0;
  bool has_best_ = false;
  std::int64_t bad_epochs_ = 0;
};

}  // namespace labrun::train
