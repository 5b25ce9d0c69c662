// Baseline JPEG encoding through libjpeg-turbo with OpenCV imwrite's
// settings (libjpeg's defaults: 4:2:0 chroma, the standard tables scaled to
// the quality, no optimised Huffman tables, no restart markers), so that
// the images labrun generates (fashion-mosaic) are the same bytes whether or
// not it is built with OpenCV's imgcodecs (LABRUN_WITH_IMGCODECS).
#pragma once

#include <opencv2/core.hpp>
#include <vector>

namespace labrun::data {

// `image`: 8-bit BGR [h, w, 3] or gray [h, w]; quality in [0, 100].
// Throws std::runtime_error with libjpeg's message on failure.
std::vector<unsigned char> encodeJpeg(const cv::Mat& image, int quality);

}  // namespace labrun::data
