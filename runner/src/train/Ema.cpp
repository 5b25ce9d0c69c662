#include "train/Ema.h"

#include <torch/torch.h>

namespace labrun::train {

Ema::Ema(torch::nn::Module& model, double decay) : decay_(decay) {
  live_ = model.parameters();
  parameter_count_ = live_.size();
  for (auto& buffer : model.buffers()) live_.push_back(buffer);
  torch::NoGradGuard no_grad;
  for (const auto& tensor : live_) shadow_.push_back(tensor.detach().clone());
}

void Ema::update() {
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < live_.size(); ++i) {
    // Buffers such as BatchNorm statistics (and integer counters) follow the
    // model; only learned weights are averaged.
    if (i < parameter_count_) {
      shadow_[i].mul_(decay_).add_(live_[i].detach(), 1.0 - decay_);
    } else {
      shadow_[i].copy_(live_[i].detach());
    }
  }
}

void Ema::swap() {
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < live_.size(); ++i) {
    torch::Tensor held = live_[i].detach().clone();
    live_[i].detach().copy_(shadow_[i]);
    shadow_[i].copy_(held);
  }
}

void Ema::save(torch::serialize::OutputArchive& archive) const {
  for (std::size_t i = 0; i < shadow_.size(); ++i) {
    archive.write(std::to_string(i), shadow_[i]);
  }
}

void Ema::load(torch::serialize::InputArchive& archive) {
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < shadow_.size(); ++i) {
    torch::Tensor saved;
    archive.read(std::to_string(i), saved);
    shadow_[i].copy_(saved);
  }
}

}  // namespace labrun::train
