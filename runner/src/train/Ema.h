// Exponential moving average of a model's weights, evaluated alongside the
// trained weights (swap in, evaluate, swap back).
#pragma once

#include <torch/nn/module.h>
#include <torch/serialize/archive.h>

#include <vector>

namespace labrun::train {

class Ema {
 public:
  Ema(torch::nn::Module& model, double decay);
  // shadow = decay * shadow + (1 - decay) * weight; buffers are copied.
  void update();
  // Exchanges the model's weights and buffers with the averaged ones.
  void swap();

  void save(torch::serialize::OutputArchive& archive) const;
  void load(torch::serialize::InputArchive& archive);

 private:
  std::vector<torch::Tensor> live_;    // the model's parameters and buffers
  std::vector<torch::Tensor> shadow_;  // their averages
  std::size_t parameter_count_;        // live_[0, count) are parameters
  double decay_;
};

}  // namespace labrun::train
