// PyTorch checkpoints, both formats (zip and legacy pickle; the reader tells
// them apart by content), read as a state dict.
#include <cstddef>
#include <cstdint>

#include "FuzzInput.h"
#include "io/TorchCheckpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  const std::string path = labrun::fuzz::writeInput("weights.pth", data, size);
  return labrun::fuzz::expectCleanErrors(
      [&] { labrun::io::loadStateDict(path); });
}
