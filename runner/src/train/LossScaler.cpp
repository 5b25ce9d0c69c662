#include "train/LossScaler.h"

#include <torch/torch.h>

#include <stdexcept>

namespace labrun::train {
namespace {
constexpr const char* kArchiveKey = "loss_scaler";
}  // namespace

LossScaler::LossScaler(LossScalerOptions options)
    : options_(options), scale_(options.init_scale) {}

torch::Tensor LossScaler::scale(const torch::Tensor& loss) const {
  return loss * scale_;
}

bool LossScaler::unscale(const std::vector<torch::Tensor>& parameters) const {
  const double inverse = 1.0 / scale_;
  torch::Tensor non_finite;
  for (const torch::Tensor& parameter : parameters) {
    torch::Tensor grad = parameter.grad();
    if (!grad.defined()) continue;
    grad.mul_(inverse);
    // Summed on the gradients' device: one read of the flag at the end.
    const torch::Tensor count = grad.isfinite().logical_not().sum();
    non_finite = non_finite.defined() ? non_finite + count : count;
  }
  return !non_finite.defined() || non_finite.item<std::int64_t>() == 0;
}

bool LossScaler::update(bool finite) {
  if (finite) {
    if (++good_steps_ == options_.growth_interval) {
      scale_ *= options_.growth_factor;
      good_steps_ = 0;
    }
    return true;
  }
  ++skipped_;
  good_steps_ = 0;
  scale_ *= options_.backoff_factor;
  return scale_ >= options_.min_scale;
}

void LossScaler::save(torch::serialize::OutputArchive& archive) const {
  archive.write(kArchiveKey,
                torch::tensor({scale_, static_cast<double>(good_steps_),
                               static_cast<double>(skipped_)},
                              torch::kDouble));
}

void LossScaler::load(torch::serialize::InputArchive& archive) {
  torch::Tensor state;
  if (!archive.try_read(kArchiveKey, state)) {
    throw std::runtime_error(
        "the checkpoint holds no loss scale (written by a run that was not "
        "fp16)");
  }
  scale_ = state[0].item<double>();
  good_steps_ = static_cast<std::int64_t>(state[1].item<double>());
  skipped_ = static_cast<std::int64_t>(state[2].item<double>());
}

}  // namespace labrun::train
