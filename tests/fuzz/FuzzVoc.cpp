// One VOC annotation XML file, as the only image of a split.
#include <cstddef>
#include <cstdint>
#include <string>

#include "FuzzInput.h"
#include "data/VocAnnotations.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  static const std::string split = [] {
    const std::string text = "000001\n";
    return labrun::fuzz::writeInput(
        "voc/ImageSets/Main/test.txt",
        reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
  }();
  labrun::fuzz::writeInput("voc/Annotations/000001.xml", data, size);
  labrun::data::VocOptions options;
  options.root = (labrun::fuzz::scratchDir() / "voc").string();
  options.split = "test";
  return labrun::fuzz::expectCleanErrors(
      [&] { labrun::data::readVocAnnotations(options); });
}
