// Reads IDX files (the MNIST / Fashion-MNIST array format), gzip'd or plain:
// a big-endian header (magic 0x0000TTRR: type TT, rank RR; then RR sizes)
// followed by the elements in C order. Only unsigned bytes (TT = 0x08).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace labrun::data {

struct IdxArray {
  std::vector<std::int64_t> shape;  // e.g. [N, 28, 28] images, [N] labels
  std::vector<std::uint8_t> data;   // prod(shape) bytes, C order
};

// Throws std::runtime_error naming `path` when the file cannot be opened, is
// not a valid gzip stream, does not hold an unsigned-byte array of `rank`
// dimensions, or is truncated or has trailing bytes.
IdxArray readIdxFile(const std::string& path, int rank);

}  // namespace labrun::data
