// Adam and AdamW whose update reads and writes each parameter's memory once.
// LibTorch's step makes eight passes over every parameter and allocates two
// parameter-sized temporaries (docs/BENCHMARKS.md, "Adam"), and on a GPU
// launches about ten kernels per parameter. These classes compute the same
// expressions, in the same order and float precision: on the CPU in one
// loop, on CUDA with torch's multi-tensor Adam kernel (`_fused_adam_`, a
// few launches per parameter group). Results equal LibTorch's within a float
// ulp or two (its vectorised kernels fuse some multiply-adds). State,
// options and save/load are LibTorch's own, so checkpoints of either kind
// load into the other. The fused paths take float32, dense parameters
// (contiguous or channels-last, with gradients and state laid out alike)
// that all live on one CPU or CUDA device, without amsgrad; any
// other case (double, amsgrad, mixed devices, state laid out otherwise)
// makes the whole step LibTorch's.
#pragma once

#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>

namespace labrun::train {

class FusedAdam : public torch::optim::Adam {
 public:
  using torch::optim::Adam::Adam;
  torch::Tensor step(LossClosure closure = nullptr) override;
  // Whether the last step was the fused one (not LibTorch's).
  bool lastStepFused() const { return last_step_fused_; }

 private:
  bool last_step_fused_ = false;
};

class FusedAdamW : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;
  torch::Tensor step(LossClosure closure = nullptr) override;
  // Whether the last step was the fused one (not LibTorch's).
  bool lastStepFused() const { return last_step_fused_; }

 private:
  bool last_step_fused_ = false;
};

}  // namespace labrun::train
