// COCO instances JSON, read in small windows so that objects straddling a
// window boundary are exercised too.
#include <cstddef>
#include <cstdint>

#include "FuzzInput.h"
#include "data/CocoAnnotations.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  labrun::data::CocoOptions options;
  options.annotations = labrun::fuzz::writeInput("instances.json", data, size);
  options.images = labrun::fuzz::scratchDir().string();
  options.window_bytes = 512;
  return labrun::fuzz::expectCleanErrors(
      [&] { labrun::data::readCocoAnnotations(options); });
}
