// A hand-written autograd function under train.precision bf16 or fp16:
// autocast would cast some of the products inside its forward and none of
// its backward, so the two would disagree on dtypes. As PyTorch's
// custom_fwd(cast_inputs=...) does, the function runs with autocast off,
// its inputs cast to autocast's type (cast() is recorded by autograd, so
// the float32 parameters still get their gradients).
#pragma once

#include <ATen/autocast_mode.h>
#include <torch/types.h>

namespace labrun::ssgrl {

class AutocastExit {
 public:
  // Autocast's state for `like`'s device; turned off while this lives.
  explicit AutocastExit(const torch::Tensor& like)
      : cuda_(like.is_cuda()),
        enabled_(cuda_ ? at::autocast::is_enabled()
                       : at::autocast::is_cpu_enabled()) {
    if (!enabled_) return;
    dtype_ = cuda_ ? at::autocast::get_autocast_gpu_dtype()
                   : at::autocast::get_autocast_cpu_dtype();
    setEnabled(false);
  }
  ~AutocastExit() {
    if (enabled_) setEnabled(true);
  }
  AutocastExit(const AutocastExit&) = delete;
  AutocastExit& operator=(const AutocastExit&) = delete;

  // `tensor` in autocast's type where autocast was on; as it is otherwise.
  torch::Tensor cast(const torch::Tensor& tensor) const {
    return enabled_ && tensor.is_floating_point() ? tensor.to(dtype_) : tensor;
  }

 private:
  void setEnabled(bool on) const {
    if (cuda_) {
      at::autocast::set_enabled(on);
    } else {
      at::autocast::set_cpu_enabled(on);
    }
  }

  bool cuda_;
  bool enabled_;
  at::ScalarType dtype_ = at::kFloat;
};

}  // namespace labrun::ssgrl
