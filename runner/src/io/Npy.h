// Reads NumPy .npy arrays (format versions 1.0, 2.0 and 3.0) as tensors.
#pragma once

#include <torch/types.h>

#include <string>

namespace labrun::io {

// Reads the array in `path`. Supported element types: float32, float64,
// int32, int64, uint8 and bool, little- or big-endian, C or Fortran order.
// Returns a contiguous CPU tensor of the file's shape and the matching dtype
// (kFloat, kDouble, kInt, kLong, kByte, kBool), in native byte order; a 0-d
// array gives a 0-d tensor. Throws std::runtime_error "<path>: <problem>"
// (unreadable file, bad magic, malformed header, unsupported dtype such as
// '<c8' or an object array, data size not matching the shape).
torch::Tensor readNpy(const std::string& path);

}  // namespace labrun::io
