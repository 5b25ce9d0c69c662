// NumPy .npy arrays.
#include <cstddef>
#include <cstdint>

#include "FuzzInput.h"
#include "io/Npy.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  const std::string path = labrun::fuzz::writeInput("array.npy", data, size);
  return labrun::fuzz::expectCleanErrors([&] { labrun::io::readNpy(path); });
}
