#include "train/LrSchedule.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace labrun::train {
namespace {

constexpr double kPi = 3.14159265358979323846;

// Cosine interpolation from `from` (t = 0) to `to` (t = 1), as PyTorch's
// OneCycleLR and CosineAnnealingLR.
double cosineBetween(double from, double to, double t) {
  return to + (from - to) * (1.0 + std::cos(kPi * t)) / 2.0;
}

}  // namespace

LrSchedule::LrSchedule(ScheduleOptions options, std::int64_t steps_per_epoch,
                       std::int64_t total_steps)
    : options_(std::move(options)),
      steps_per_epoch_(std::max<std::int64_t>(steps_per_epoch, 1)),
      total_steps_(std::max<std::int64_t>(total_steps, 1)) {}

void LrSchedule::attach(torch::optim::Optimizer& optimizer) {
  base_lrs_.clear();
  for (auto& group : optimizer.param_groups()) {
    base_lrs_.push_back(group.options().get_lr());
  }
}

double LrSchedule::factor(std::int64_t step) const {
  const std::string& name = options_.name;
  // Epoch schedules change at epoch boundaries, as PyTorch's StepLR and
  // MultiStepLR stepped once per epoch.
  const std::int64_t epochs_done = step / steps_per_epoch_;
  double value = 1.0;
  if (name == "step") {
    value = std::pow(options_.gamma,
                     static_cast<double>(epochs_done / options_.step_size));
  } else if (name == "multistep") {
    const auto passed = std::count_if(
        options_.milestones.begin(), options_.milestones.end(),
        [&](std::int64_t milestone) { return epochs_done >= milestone; });
    value = std::pow(options_.gamma, static_cast<double>(passed));
  } else if (name == "cosine") {
    value = cosineBetween(1.0, options_.min_factor,
                          static_cast<double>(step) / total_steps_);
  } else if (name == "onecycle") {
    const double initial = 1.0 / options_.div_factor;
    const double final = initial / options_.final_div_factor;
    const double up =
        options_.pct_start * static_cast<double>(total_steps_) - 1;
    const double down = static_cast<double>(total_steps_) - 1 - up;
    const auto s = static_cast<double>(step);
    value = s <= up
                ? cosineBetween(initial, 1.0, up > 0 ? s / up : 1.0)
                : cosineBetween(1.0, final, down > 0 ? (s - up) / down : 1.0);
  } else if (name == "plateau") {
    value = plateau_scale_;
  }
  if (step < options_.warmup_steps) {
    const double t = static_cast<double>(step) / options_.warmup_steps;
    value *= options_.warmup_start + (1.0 - options_.warmup_start) * t;
  }
  return value;
}

double LrSchedule::apply(torch::optim::Optimizer& optimizer,
                         std::int64_t step) const {
  const double value = factor(step);
  auto& groups = optimizer.param_groups();
  for (std::size_t g = 0; g < groups.size() && g < base_lrs_.size(); ++g) {
    groups[g].options().set_lr(base_lrs_[g] * value);
  }
  return value;
}

void LrSchedule::observe(const std::string& key, double value) {
  if (options_.name != "plateau" || key != options_.plateau_metric) return;
  const bool maximise = options_.plateau_mode == "max";
  // Relative threshold, as ReduceLROnPlateau's default 'rel' mode.
  const bool improved =
      !has_best_ || (maximise ? value > best_ * (1.0 + options_.threshold)
                              : value < best_ * (1.0 - options_.threshold));
  if (improved) {
    best_ = value;
    has_best_ = true;
    bad_epochs_ = 0;
    return;
  }
  if (++bad_epochs_ > options_.patience) {
    plateau_scale_ *= options_.plateau_factor;
    bad_epochs_ = 0;
  }
}

void LrSchedule::save(torch::serialize::OutputArchive& archive) const {
  archive.write("plateau",
                torch::tensor({plateau_scale_, best_, has_best_ ? 1.0 : 0.0,
                               static_cast<double>(bad_epochs_)},
                              torch::kDouble));
}

void LrSchedule::load(torch::serialize::InputArchive& archive) {
  torch::Tensor state;
  archive.read("plateau", state);
  const auto values = state.accessor<double, 1>();
  plateau_scale_ = values[0];
  best_ = values[1];
  has_best_ = values[2] != 0.0;
  bad_epochs_ = static_cast<std::int64_t>(values[3]);
}

}  // namespace labrun::train
