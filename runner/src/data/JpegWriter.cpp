#include "data/JpegWriter.h"

#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

// libjpeg's headers need <cstdio> (above) first.
#include <jpeglib.h>

#include "data/JpegErrorJump.h"

namespace labrun::data {

std::vector<unsigned char> encodeJpeg(const cv::Mat& image, int quality) {
  if (image.depth() != CV_8U ||
      (image.channels() != 3 && image.channels() != 1)) {
    throw std::invalid_argument(
        "encodeJpeg: expected an 8-bit BGR or gray image");
  }
  // The objects of this frame that outlive setjmp are trivially
  // destructible (the output buffer is libjpeg's, freed below), so a
  // longjmp from libjpeg skips no destructor.
  jpeg_compress_struct info;
  JpegErrorJump errors;
  unsigned char* buffer = nullptr;
  unsigned long size = 0;  // NOLINT(runtime/int): libjpeg's type
  errors.install(info);
  if (setjmp(errors.jump)) {
    char message[JMSG_LENGTH_MAX];
    (*info.err->format_message)(reinterpret_cast<j_common_ptr>(&info), message);
    jpeg_destroy_compress(&info);
    std::free(buffer);
    throw std::runtime_error(std::string("JPEG encoding failed: ") + message);
  }
  jpeg_create_compress(&info);
  jpeg_mem_dest(&info, &buffer, &size);
  info.image_width = static_cast<JDIMENSION>(image.cols);
  info.image_height = static_cast<JDIMENSION>(image.rows);
  info.input_components = image.channels();
  info.in_color_space = image.channels() == 3 ? JCS_EXT_BGR : JCS_GRAYSCALE;
  jpeg_set_defaults(&info);
  jpeg_set_quality(&info, quality, /*force_baseline=*/TRUE);
  jpeg_start_compress(&info, /*write_all_tables=*/TRUE);
  while (info.next_scanline < info.image_height) {
    // libjpeg reads the rows without writing them.
    auto* row =
        const_cast<JSAMPROW>(image.ptr(static_cast<int>(info.next_scanline)));
    jpeg_write_scanlines(&info, &row, 1);
  }
  jpeg_finish_compress(&info);
  jpeg_destroy_compress(&info);
  std::vector<unsigned char> bytes(buffer, buffer + size);
  std::free(buffer);
  return bytes;
}

}  // namespace labrun::data
