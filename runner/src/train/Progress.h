// Training progress: on a terminal, one bar redrawn in place (step/total,
// smoothed loss, images/s, ETA of the epoch and of the run); elsewhere (CI,
// logs) one plain line every `log_every` steps.
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

namespace labrun::train {

class Progress {
 public:
  Progress(std::ostream& out, bool terminal, bool quiet, std::int64_t log_every,
           std::int64_t epochs, std::int64_t steps_per_epoch);

  void startEpoch(std::int64_t epoch, std::int64_t first_step);
  // After optimizer step `step_in_epoch` (1-based) of the epoch.
  void step(std::int64_t step_in_epoch, double loss, std::int64_t images);
  // Ends a drawn bar's line (before the epoch's results are printed).
  void endEpoch();

 private:
  using Clock = std::chrono::steady_clock;
  std::string render(std::int64_t step_in_epoch) const;

  std::ostream& out_;
  bool terminal_, quiet_;
  std::int64_t log_every_, epochs_, steps_per_epoch_;
  std::int64_t epoch_ = 0, first_step_ = 0, images_ = 0;
  double smoothed_loss_ = 0;
  bool has_loss_ = false, bar_drawn_ = false;
  Clock::time_point epoch_start_, last_draw_;
};

}  // namespace labrun::train
