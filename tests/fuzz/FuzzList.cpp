// List files: "<image> <labels...>" rows, index or dense 0/1 style.
#include <cstddef>
#include <cstdint>

#include "FuzzInput.h"
#include "data/ListAnnotations.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  labrun::data::ListOptions options;
  options.list = labrun::fuzz::writeInput("labels.txt", data, size);
  return labrun::fuzz::expectCleanErrors(
      [&] { labrun::data::readListAnnotations(options); });
}
