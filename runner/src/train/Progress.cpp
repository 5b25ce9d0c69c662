#include "train/Progress.h"

#include <fmt/format.h>

#include <algorithm>

namespace labrun::train {
namespace {

constexpr int kBarWidth = 24;
constexpr double kLossSmoothing = 0.9;  // weight of the running average
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);

std::string clock(double seconds) {
  const auto total = static_cast<long long>(std::max(0.0, seconds));
  return total >= 3600 ? fmt::format("{}:{:02}:{:02}", total / 3600,
                                     total / 60 % 60, total % 60)
                       : fmt::format("{}:{:02}", total / 60, total % 60);
}

}  // namespace

Progress::Progress(std::ostream& out, bool terminal, bool quiet,
                   std::int64_t log_every, std::int64_t epochs,
                   std::int64_t steps_per_epoch)
    : out_(out),
      terminal_(terminal),
      quiet_(quiet),
      log_every_(log_every),
      epochs_(epochs),
      steps_per_epoch_(std::max<std::int64_t>(steps_per_epoch, 1)) {}

void Progress::startEpoch(std::int64_t epoch, std::int64_t first_step) {
  epoch_ = epoch;
  first_step_ = first_step;
  images_ = 0;
  epoch_start_ = Clock::now();
}

void Progress::step(std::int64_t step_in_epoch, double loss,
                    std::int64_t images) {
  images_ += images;
  smoothed_loss_ =
      has_loss_ ? kLossSmoothing * smoothed_loss_ + (1 - kLossSmoothing) * loss
                : loss;
  has_loss_ = true;
  if (quiet_) return;
  if (terminal_) {
    const auto now = Clock::now();
    if (now - last_draw_ < kRedrawInterval && step_in_epoch < steps_per_epoch_)
      return;
    last_draw_ = now;
    out_ << "\r" << render(step_in_epoch) << "\033[K" << std::flush;
    bar_drawn_ = true;
  } else if (log_every_ > 0 && step_in_epoch % log_every_ == 0) {
    out_ << render(step_in_epoch) << "\n" << std::flush;
  }
}

std::string Progress::render(std::int64_t step_in_epoch) const {
  const double elapsed =
      std::chrono::duration<double>(Clock::now() - epoch_start_).count();
  const std::int64_t done = step_in_epoch - first_step_;
  const double per_step = done > 0 ? elapsed / done : 0;
  const double epoch_eta = per_step * (steps_per_epoch_ - step_in_epoch);
  const double run_eta =
      epoch_eta + per_step * steps_per_epoch_ * (epochs_ - epoch_);
  const double rate = elapsed > 0 ? images_ / elapsed : 0;
  std::string text = fmt::format("epoch {}/{} ", epoch_, epochs_);
  if (terminal_) {
    const int filled =
        static_cast<int>(kBarWidth * step_in_epoch / steps_per_epoch_);
    text += "[" + std::string(filled, '#') +
            std::string(kBarWidth - filled, '.') + "] ";
  }
  return text +
         fmt::format("step {}/{} loss {:.4f} {:.1f} img/s eta {} (run {})",
                     step_in_epoch, steps_per_epoch_, smoothed_loss_, rate,
                     clock(epoch_eta), clock(run_eta));
}

void Progress::endEpoch() {
  if (bar_drawn_) out_ << "\n";
  bar_drawn_ = false;
}

}  // namespace labrun::train
