// Reads image files by their content, whatever their extension: JPEGs
// through libjpeg-turbo (decoding only the rows and columns a sample needs),
// everything else (PNG, BMP, TIFF, WebP, CMYK JPEGs) through OpenCV.
// Grayscale becomes 3 channels, 16-bit is scaled to 8 bits, CMYK becomes
// RGB; EXIF orientation is ignored, as PIL and torchvision do. A labrun
// built without OpenCV's imgcodecs (LABRUN_WITH_IMGCODECS=OFF) reads RGB and
// gray JPEGs only and calls other images undecodable.
//
// A file is unusable when it is missing, empty, truncated (a JPEG without
// an end-of-image marker after its last scan or one libjpeg finds short of
// data, a PNG without its IEND chunk) or not decodable; other libjpeg
// warnings (e.g. extraneous bytes) leave an image usable, as in PIL.
#pragma once

#include <functional>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace labrun::data {

struct DecodedImage {
  cv::Mat bgr;      // 8-bit BGR pixels [h, w, 3] of `region`
  cv::Rect region;  // the part of the image that `bgr` holds
  cv::Size size;    // the whole image
};

// One per thread: it keeps the file buffer between calls.
class ImageDecoder {
 public:
  // Which part of an image of the given size is needed.
  using RegionFor = std::function<cv::Rect(cv::Size image)>;

  // Decodes `path` into `image`: at least region_for(size) (JPEGs decode
  // little more, other formats everything). Returns false with the reason
  // in `error` (e.g. "empty file") when the file is unusable.
  bool decode(const std::string& path, const RegionFor& region_for,
              DecodedImage& image, std::string& error);

 private:
  std::vector<unsigned char> bytes_;
};

}  // namespace labrun::data
