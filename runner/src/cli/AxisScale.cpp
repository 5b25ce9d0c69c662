#include "cli/AxisScale.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace labrun::cli {
namespace {

// Smallest of 1, 2, 5 x 10^k that is >= x (x > 0).
double niceStep(double x) {
  const double magnitude = std::pow(10.0, std::floor(std::log10(x)));
  for (const double factor : {1.0, 2.0, 5.0}) {
    if (factor * magnitude >= x * (1 - 1e-9)) return factor * magnitude;
  }
  return 10 * magnitude;
}

}  // namespace

AxisScale::AxisScale(double lo, double hi, double pixel_from, double pixel_to,
                     int max_ticks, bool integer_ticks)
    : pixel_from_(pixel_from), pixel_to_(pixel_to) {
  if (!(hi > lo)) {
    const double pad = lo == 0 ? 1.0 : std::abs(lo) * 0.1;
    hi = lo + pad;
    lo -= pad;
  }
  step_ = niceStep((hi - lo) / std::max(max_ticks - 1, 1));
  if (integer_ticks) step_ = std::max(step_, 1.0);
  // Tick k is k * step; computing it from k (not by repeated addition)
  // keeps labels free of accumulated rounding error.
  const auto first = static_cast<long long>(std::floor(lo / step_ + 1e-9));
  const auto last = static_cast<long long>(std::ceil(hi / step_ - 1e-9));
  for (long long k = first; k <= last; ++k) ticks_.push_back(k * step_);
  lo_ = ticks_.front();
  hi_ = ticks_.back();
  decimals_ =
      std::max(0, -static_cast<int>(std::floor(std::log10(step_) + 1e-9)));
}

double AxisScale::pixel(double value) const {
  return pixel_from_ + (value - lo_) / (hi_ - lo_) * (pixel_to_ - pixel_from_);
}

std::string AxisScale::label(double value) const {
  // Snap values within rounding noise of zero, so no "-0.0" appears.
  if (std::abs(value) < step_ * 1e-9) value = 0;
  return fmt::format("{:.{}f}", value, decimals_);
}

}  // namespace labrun::cli
