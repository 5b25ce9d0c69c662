// A linear chart axis: maps data values onto pixels, over an interval
// widened to round tick values (1, 2 or 5 x 10^k) so the axis reads cleanly.
#pragma once

#include <string>
#include <vector>

namespace labrun::cli {

class AxisScale {
 public:
  // Covers [lo, hi] (an empty or reversed interval is widened around lo)
  // with at most about `max_ticks` ticks. `pixel_from` is where the axis
  // starts (the bottom of a y axis: pixel_from > pixel_to there), `pixel_to`
  // where it ends. `integer_ticks` keeps the tick step >= 1 (epochs).
  AxisScale(double lo, double hi, double pixel_from, double pixel_to,
            int max_ticks = 6, bool integer_ticks = false);

  double pixel(double value) const;
  double lo() const { return lo_; }  // first tick
  double hi() const { return hi_; }  // last tick
  double step() const { return step_; }
  const std::vector<double>& ticks() const { return ticks_; }
  // A tick value with as many decimals as the step needs ("0.2", "15").
  std::string label(double value) const;

 private:
  double lo_, hi_, step_;
  double pixel_from_, pixel_to_;
  int decimals_;
  std::vector<double> ticks_;
};

}  // namespace labrun::cli
