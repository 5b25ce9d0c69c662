// A hand-written autograd function under train.precision bf16 or fp16:
// autocast would cast some of the products inside its forward and none of
// its backward, so the two would disagree on dtypes. As PyTorch's
// custom_fwd(cast_inputs=...) does, the function runs with autocast off,
// its inputs cast to autocast's type (cast() is recorded by autograd, so
// the float32 parameters still get their gradients).
#pragma once

#include <labrun/AutocastState.h>
#include <torch/types.h>

namespace labrun::ssgrl {

class AutocastExit {
 public:
  // Autocast's state for `like`'s device; turned off while this lives.
  explicit AutocastExit(const torch::Tensor& like)
      : type_(like.device().type()), state_(AutocastState::of(type_)) {
    if (state_.enabled) {
      AutocastState{/*enabled=*/false, state_.dtype}.applyTo(type_);
    }
  }
  ~AutocastExit() { state_.applyTo(type_); }
  AutocastExit(const AutocastExit&) = delete;
  AutocastExit& operator=(const AutocastExit&) = delete;

  // `tensor` in autocast's type where autocast was on; as it is otherwise.
  torch::Tensor cast(const torch::Tensor& tensor) const {
    return state_.enabled && tensor.is_floating_point()
               ? tensor.to(state_.dtype)
               : tensor;
  }

 private:
  c10::DeviceType type_;
  AutocastState state_;
};

}  // namespace labrun::ssgrl
