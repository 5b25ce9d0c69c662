#include "data/ImageDecoder.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>

#ifdef LABRUN_WITH_IMGCODECS
#include <opencv2/imgcodecs.hpp>
#endif

// libjpeg's headers need <cstdio> (above) first.
#include <jerror.h>
#include <jpeglib.h>

#include "data/JpegErrorJump.h"
#include "util/IoFault.h"

namespace labrun::data {
namespace {

// Larger claims are corrupt headers rather than photos.
constexpr double kMaxPixels = 1 << 28;

bool startsWith(const std::vector<unsigned char>& bytes,
                std::initializer_list<unsigned char> prefix) {
  return bytes.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), bytes.begin());
}

// The formats handed to OpenCV (JPEGs that libjpeg-turbo's path leaves to
// it, PNG, BMP, WebP, TIFF, PNM), by signature. OpenCV also probes others
// (DICOM through GDCM among them) whose decoders abort the process on
// malformed input (found by fuzzing), and no image data set uses them.
bool openCvFormat(const std::vector<unsigned char>& bytes) {
  const auto at = [&](std::size_t offset, std::string_view tag) {
    return bytes.size() >= offset + tag.size() &&
           std::equal(tag.begin(), tag.end(), bytes.begin() + offset,
                      [](char want, unsigned char have) {
                        return static_cast<unsigned char>(want) == have;
                      });
  };
  return at(0, "\xFF\xD8\xFF") || at(0, "\x89PNG\r\n\x1a\n") || at(0, "BM") ||
         (at(0, "RIFF") && at(8, "WEBP")) ||
         at(0, std::string_view("II*\0", 4)) ||
         at(0, std::string_view("MM\0*", 4)) ||
         (bytes.size() >= 2 && bytes[0] == 'P' && bytes[1] >= '1' &&
          bytes[1] <= '6');
}

// True when an end-of-image marker follows the last start-of-scan marker.
// Entropy-coded data never holds 0xFF followed by 0xD9 or 0xDA (0xFF bytes
// are stuffed), so scanning back from the end, the first of the two found
// tells whether the last scan was completed.
bool jpegEnds(const std::vector<unsigned char>& bytes) {
  for (std::size_t i = bytes.size() - 1; i > 2; --i) {
    if (bytes[i - 1] != 0xFF) continue;
    if (bytes[i] == 0xD9) return true;
    if (bytes[i] == 0xDA) return false;
  }
  return false;
}

// True when the PNG's IEND chunk type is near its end (a few bytes of
// trailing junk are tolerated).
bool pngEnds(const std::vector<unsigned char>& bytes) {
  static const char kIend[] = "IEND";
  const std::size_t tail = std::min<std::size_t>(bytes.size(), 1024);
  const auto begin = bytes.end() - static_cast<std::ptrdiff_t>(tail);
  return std::search(begin, bytes.end(), kIend, kIend + 4) != bytes.end();
}

struct JpegErrors {
  JpegErrorJump exit;  // first, so libjpeg's pointer to it is ours
  char missing_data[JMSG_LENGTH_MAX] = "";  // the first such warning
};

// Warnings that mean missing data (libjpeg then fills in gray) make the
// image unusable; the others, and trace messages, are dropped.
void onJpegMessage(j_common_ptr info, int level) {
  const int code = info->err->msg_code;
  auto* errors = reinterpret_cast<JpegErrors*>(info->err);
  if (level < 0 && (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER) &&
      errors->missing_data[0] == '\0') {
    (*info->err->format_message)(info, errors->missing_data);
  }
}

enum class JpegResult { kDecoded, kUnusable, kNotHandled };

// Decodes the rows and (iMCU-aligned) columns of region_for(size). The
// objects of this frame are trivially destructible, so a longjmp from
// libjpeg skips no destructor. CMYK/YCCK is left to OpenCV, which converts it
// to BGR.
JpegResult decodeJpeg(const std::vector<unsigned char>& bytes,
                      const ImageDecoder::RegionFor& region_for,
                      DecodedImage& image, char* message) {
  jpeg_decompress_struct info;
  JpegErrors errors;
  errors.exit.install(info);
  errors.exit.manager.emit_message = onJpegMessage;
  if (setjmp(errors.exit.jump)) {
    (*info.err->format_message)(reinterpret_cast<j_common_ptr>(&info), message);
    jpeg_destroy_decompress(&info);
    return JpegResult::kUnusable;
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, bytes.data(), bytes.size());
  jpeg_read_header(&info, TRUE);
  if (info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK) {
    jpeg_destroy_decompress(&info);
    return JpegResult::kNotHandled;
  }
  // In double: cv::Size::area() is an int, which a forged 60000x60000
  // header overflows past the cap.
  if (static_cast<double>(info.image_width) * info.image_height > kMaxPixels) {
    std::snprintf(message, JMSG_LENGTH_MAX, "image too large (%ux%u)",
                  info.image_width, info.image_height);
    jpeg_destroy_decompress(&info);
    return JpegResult::kUnusable;
  }
  image.size = cv::Size(static_cast<int>(info.image_width),
                        static_cast<int>(info.image_height));
  const cv::Rect want =
      region_for(image.size) & cv::Rect(cv::Point(), image.size);
  info.out_color_space = JCS_EXT_BGR;
  jpeg_start_decompress(&info);
  auto x = static_cast<JDIMENSION>(want.x);
  auto width = static_cast<JDIMENSION>(want.width);
  if (width < info.output_width) jpeg_crop_scanline(&info, &x, &width);
  image.bgr.create(want.height, static_cast<int>(width), CV_8UC3);
  if (want.y > 0) jpeg_skip_scanlines(&info, static_cast<JDIMENSION>(want.y));
  const auto end = static_cast<JDIMENSION>(want.y + want.height);
  while (info.output_scanline < end) {
    JSAMPROW row =
        image.bgr.ptr(static_cast<int>(info.output_scanline) - want.y);
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_destroy_decompress(&info);  // stops early: later rows are not needed
  if (errors.missing_data[0] != '\0') {
    std::memcpy(message, errors.missing_data, JMSG_LENGTH_MAX);
    return JpegResult::kUnusable;
  }
  image.region = cv::Rect(static_cast<int>(x), want.y, static_cast<int>(width),
                          want.height);
  return JpegResult::kDecoded;
}

bool readFile(const std::string& path, std::vector<unsigned char>& bytes,
              std::string& error) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (no effect on
  // regular files).
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    error = std::string("cannot open: ") + std::strerror(errno);
    return false;
  }
  struct stat status {};
  if (fstat(fd, &status) != 0 || !S_ISREG(status.st_mode)) {
    ::close(fd);
    error = "not a regular file";
    return false;
  }
  bytes.resize(static_cast<std::size_t>(status.st_size));
  const int injected = util::io_fault::next();
  std::size_t done = 0;
  while (injected == 0 && done < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (injected != 0) {
    error = std::string("read error: ") + std::strerror(injected);
  } else if (done != bytes.size()) {
    error = "read error";
  }
  return injected == 0 && done == bytes.size();
}

}  // namespace

bool ImageDecoder::decode(const std::string& path, const RegionFor& region_for,
                          DecodedImage& image, std::string& error) {
  if (!readFile(path, bytes_, error)) return false;
  if (bytes_.empty()) {
    error = "empty file";
    return false;
  }
  if (startsWith(bytes_, {0xFF, 0xD8, 0xFF})) {
    if (!jpegEnds(bytes_)) {
      error = "truncated JPEG (no end-of-image marker after the last scan)";
      return false;
    }
    char message[JMSG_LENGTH_MAX] = "";
    switch (decodeJpeg(bytes_, region_for, image, message)) {
      case JpegResult::kDecoded:
        return true;
      case JpegResult::kUnusable:
        error = std::string("corrupt JPEG: ") + message;
        return false;
      case JpegResult::kNotHandled:
        break;
    }
  } else if (startsWith(bytes_,
                        {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'})) {
    if (!pngEnds(bytes_)) {
      error = "truncated PNG (no IEND chunk)";
      return false;
    }
    // The header's size, refused as JPEG's is: OpenCV's own cap says so
    // with an assertion's text.
    if (bytes_.size() >= 24) {
      const auto bigEndian = [&](std::size_t at) {
        return (std::uint32_t{bytes_[at]} << 24) |
               (std::uint32_t{bytes_[at + 1]} << 16) |
               (std::uint32_t{bytes_[at + 2]} << 8) | bytes_[at + 3];
      };
      const std::uint32_t width = bigEndian(16), height = bigEndian(20);
      if (static_cast<double>(width) * height > kMaxPixels) {
        error = "corrupt PNG: image too large (" + std::to_string(width) + "x" +
                std::to_string(height) + ")";
        return false;
      }
    }
  }
  if (!openCvFormat(bytes_)) {
    error =
        "not a decodable image: unknown format (expected JPEG, PNG, BMP, "
        "WebP, TIFF or PNM)";
    return false;
  }
#ifndef LABRUN_WITH_IMGCODECS
  error =
      "not decodable by this labrun, built without OpenCV's imgcodecs "
      "(-DLABRUN_WITH_IMGCODECS=OFF): it reads RGB and gray JPEGs only";
  return false;
#else
  try {
    const cv::Mat encoded(1, static_cast<int>(bytes_.size()), CV_8U,
                          bytes_.data());
    image.bgr =
        cv::imdecode(encoded, cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION);
  } catch (const cv::Exception& failure) {
    error = "not a decodable image: " + failure.err;
    return false;
  }
  if (image.bgr.empty()) {
    error = "not a decodable image (unknown format or corrupt data)";
    return false;
  }
  image.size = image.bgr.size();
  image.region = cv::Rect(cv::Point(), image.size);
  region_for(image.size);  // lets the caller plan; the whole image is here
  return true;
#endif
}

}  // namespace labrun::data
