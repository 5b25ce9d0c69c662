// libjpeg reports a fatal error through error_exit, which must not return.
// JpegErrorJump's jumps back to `jump`, set right after install() by the
// call that uses libjpeg:
//   JpegErrorJump errors;
//   errors.install(info);
//   if (setjmp(errors.jump)) { /* format the message, destroy info */ }
// The calling frame must hold only trivially destructible objects then,
// as a longjmp skips destructors.
#pragma once

#include <csetjmp>
#include <cstdio>

// libjpeg's headers need <cstdio> (above) first.
#include <jpeglib.h>

namespace labrun::data {

struct JpegErrorJump {
  jpeg_error_mgr manager;  // first, so libjpeg's pointer to it is ours
  std::jmp_buf jump;

  // `info`: a jpeg_compress_struct or jpeg_decompress_struct.
  template <typename Info>
  void install(Info& info) {
    info.err = jpeg_std_error(&manager);
    manager.error_exit = [](j_common_ptr failed) {
      std::longjmp(reinterpret_cast<JpegErrorJump*>(failed->err)->jump, 1);
    };
  }
};

}  // namespace labrun::data
