// The CUDA caching allocator's high-water marks, as PyTorch's
// torch.cuda.max_memory_allocated / max_memory_reserved report them.
// Header-only, so that the model-only build's benchmark reads them the same
// way as the trainer; compiled in where the target links
// labrun_cuda_memory (a CUDA LibTorch: LABRUN_WITH_CUDA).
#pragma once

#include <torch/types.h>

#include <optional>

#ifdef LABRUN_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace labrun::util {

struct DevicePeakMemory {
  double allocated_mib = 0;  // tensors alive at the peak
  double reserved_mib = 0;   // what the allocator held from the driver
};

// The peaks on `device` (a CUDA device; "cuda" alone is the current one)
// since the process began; nullopt on another device or without CUDA
// support.
inline std::optional<DevicePeakMemory> devicePeakMemory(
    const torch::Device& device) {
  if (!device.is_cuda()) return std::nullopt;
#ifdef LABRUN_WITH_CUDA
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(
      device.has_index() ? device.index() : c10::cuda::current_device());
  constexpr std::size_t kAggregate = 0;  // StatType::AGGREGATE
  const double mib = 1024.0 * 1024.0;
  return DevicePeakMemory{stats.allocated_bytes[kAggregate].peak / mib,
                          stats.reserved_bytes[kAggregate].peak / mib};
#else
  return std::nullopt;
#endif
}

}  // namespace labrun::util
