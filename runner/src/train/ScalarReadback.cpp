#include "train/ScalarReadback.h"

#include <c10/core/impl/VirtualGuardImpl.h>

#include <stdexcept>
#include <string>
#include <thread>

namespace labrun::train {

void ScalarReadback::queue(const torch::Tensor& value) {
  if (value.numel() != 1) {
    throw std::invalid_argument(
        "ScalarReadback::queue: one element expected, got " +
        std::to_string(value.numel()));
  }
  arrived_.reset();
  host_value_.reset();
  if (!value.is_cuda()) {
    host_value_ = value.item<double>();
    return;
  }
  if (!pinned_.defined() || pinned_.scalar_type() != value.scalar_type()) {
    pinned_ = torch::empty({}, torch::TensorOptions()
                                   .dtype(value.scalar_type())
                                   .pinned_memory(/*pinned_memory=*/true));
  }
  // Into pinned memory the copy is queued on the current stream like any
  // kernel; the event marks its place there.
  pinned_.copy_(value.reshape({}), /*non_blocking=*/true);
  const c10::Device device = value.device();
  arrived_ = std::make_unique<c10::Event>(device.type());
  arrived_->record(
      c10::impl::VirtualGuardImpl(device.type()).getStream(device));
}

double ScalarReadback::read() {
  if (host_value_) {
    const double result = *host_value_;
    host_value_.reset();
    return result;
  }
  if (!arrived_) {
    throw std::logic_error("ScalarReadback::read: nothing queued");
  }
  // c10::Event has no blocking wait before LibTorch 2.x; a step's forward
  // pass takes milliseconds, so yielding between queries costs nothing.
  while (!arrived_->query()) std::this_thread::yield();
  arrived_.reset();
  return pinned_.item<double>();
}

}  // namespace labrun::train
