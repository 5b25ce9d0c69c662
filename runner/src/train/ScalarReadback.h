// A step's loss read without draining the device's queue. On CUDA the
// scalar is copied to pinned host memory behind an event as soon as it is
// computed, so reading it waits for the forward pass that produced it, not
// for the backward pass and update queued after it: the device keeps
// working while the host records the step and queues the next one. On the
// CPU the work is done when it is queued, and the value is read then.
#pragma once

#include <c10/core/Event.h>
#include <torch/types.h>

#include <memory>
#include <optional>

namespace labrun::train {

class ScalarReadback {
 public:
  // Queues the host copy of `value` as it is now: one element, any device
  // and dtype. Throws std::invalid_argument for more elements.
  void queue(const torch::Tensor& value);
  // The value last queued, once its copy has arrived; each queued value
  // is read once. Throws std::logic_error when none is queued.
  double read();

 private:
  std::optional<double> host_value_;     // read at queue time (not CUDA)
  torch::Tensor pinned_;                 // the copy of a CUDA value
  std::unique_ptr<c10::Event> arrived_;  // recorded after that copy
};

}  // namespace labrun::train
