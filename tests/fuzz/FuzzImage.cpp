// Image files through the loader's decoder (libjpeg-turbo for JPEGs, OpenCV
// for the rest). An unusable file must come back as `false` with a reason;
// a crop region is asked for so that partial JPEG decoding runs too.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "FuzzInput.h"
#include "data/ImageDecoder.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  const std::string path = labrun::fuzz::writeInput("image", data, size);
  static labrun::data::ImageDecoder decoder;
  labrun::data::DecodedImage image;
  std::string error;
  const bool ok = decoder.decode(
      path,
      [](cv::Size whole) {
        return cv::Rect(whole.width / 4, whole.height / 4,
                        std::max(1, whole.width / 2),
                        std::max(1, whole.height / 2)) &
               cv::Rect(0, 0, whole.width, whole.height);
      },
      image, error);
  if (ok && (image.bgr.empty() || image.bgr.type() != CV_8UC3)) {
    throw std::logic_error("decoded image is not 8-bit BGR");
  }
  if (!ok && error.empty()) throw std::logic_error("failure without reason");
  return 0;
}
