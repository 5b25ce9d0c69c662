// Autocast's switch and lower-precision type for one device type, read and
// set through whichever API this LibTorch has: the per-device functions
// since 2.4 (where the older CPU- and GPU-named ones warn on every call,
// that is, every step), the CPU- and GPU-named ones before. Header-only, so
// that plugins (the SSGRL head leaves autocast for its own functions) and
// the runner switch it the same way.
#pragma once

#include <ATen/autocast_mode.h>
#include <c10/core/DeviceType.h>
#include <torch/version.h>

#if TORCH_VERSION_MAJOR > 2 || \
    (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define LABRUN_AUTOCAST_PER_DEVICE
#endif

namespace labrun {

struct AutocastState {
  bool enabled = false;
  at::ScalarType dtype = at::kFloat;

  // The current state for `type` (kCUDA or kCPU).
  static AutocastState of(c10::DeviceType type) {
#ifdef LABRUN_AUTOCAST_PER_DEVICE
    return {at::autocast::is_autocast_enabled(type),
            at::autocast::get_autocast_dtype(type)};
#else
    if (type == c10::DeviceType::CUDA) {
      return {at::autocast::is_enabled(),
              at::autocast::get_autocast_gpu_dtype()};
    }
    return {at::autocast::is_cpu_enabled(),
            at::autocast::get_autocast_cpu_dtype()};
#endif
  }

  // Makes this the state for `type`.
  void applyTo(c10::DeviceType type) const {
#ifdef LABRUN_AUTOCAST_PER_DEVICE
    at::autocast::set_autocast_dtype(type, dtype);
    at::autocast::set_autocast_enabled(type, enabled);
#else
    if (type == c10::DeviceType::CUDA) {
      at::autocast::set_autocast_gpu_dtype(dtype);
      at::autocast::set_enabled(enabled);
    } else {
      at::autocast::set_autocast_cpu_dtype(dtype);
      at::autocast::set_cpu_enabled(enabled);
    }
#endif
  }
};

}  // namespace labrun
