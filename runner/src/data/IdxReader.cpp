#include "data/IdxReader.h"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <stdexcept>

namespace labrun::data {
namespace {

constexpr std::uint32_t kUnsignedByteType = 0x08;
// A sanity bound on a header's element count, so a corrupt header fails
// cleanly instead of as an allocation failure.
constexpr std::int64_t kMaxElements = std::int64_t{1} << 32;

struct GzFileCloser {
  void operator()(gzFile_s* file) const { gzclose(file); }
};
using GzFile = std::unique_ptr<gzFile_s, GzFileCloser>;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(fmt::format("{}: {}", path, what));
}

// Reads up to `size` bytes; returns how many were read (short only at the
// end of the stream). zlib errors (a corrupt or cut gzip stream) throw.
std::int64_t readSome(gzFile file, const std::string& path, std::uint8_t* out,
                      std::int64_t size) {
  std::int64_t done = 0;
  while (done < size) {
    const auto chunk = static_cast<unsigned>(
        std::min<std::int64_t>(size - done, std::numeric_limits<int>::max()));
    const int got = gzread(file, out + done, chunk);
    if (got < 0) {
      int code = 0;
      fail(path,
           fmt::format("not a valid gzip stream ({})", gzerror(file, &code)));
    }
    if (got == 0) break;
    done += got;
  }
  // zlib reports a cut stream as an error only once the reader has hit it.
  int code = Z_OK;
  const char* message = gzerror(file, &code);
  if (code != Z_OK && code != Z_STREAM_END) {
    fail(path, fmt::format("corrupt or truncated gzip stream ({})", message));
  }
  return done;
}

std::uint32_t bigEndian32(const std::uint8_t* bytes) {
  return (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) |
         (std::uint32_t{bytes[2]} << 8) | std::uint32_t{bytes[3]};
}

}  // namespace

IdxArray readIdxFile(const std::string& path, int rank) {
  // gzopen reads plain (uncompressed) files transparently too.
  GzFile file(gzopen(path.c_str(), "rb"));
  if (!file) fail(path, "cannot open");

  std::uint8_t magic_bytes[4];
  if (readSome(file.get(), path, magic_bytes, 4) != 4) {
    fail(path, "truncated: no IDX header");
  }
  const std::uint32_t magic = bigEndian32(magic_bytes);
  const std::uint32_t expected = (kUnsignedByteType << 8) | rank;
  if (magic != expected) {
    fail(path, fmt::format("bad IDX magic 0x{:08x} (expected 0x{:08x}: "
                           "unsigned bytes, {} dimensions)",
                           magic, expected, rank));
  }
  std::vector<std::uint8_t> sizes(4 * rank);
  const auto sizes_bytes = static_cast<std::int64_t>(sizes.size());
  if (readSome(file.get(), path, sizes.data(), sizes_bytes) != sizes_bytes) {
    fail(path,
         fmt::format("truncated: expected {} sizes in the IDX header", rank));
  }

  IdxArray array;
  std::int64_t elements = 1;
  for (int d = 0; d < rank; ++d) {
    const std::int64_t size = bigEndian32(sizes.data() + 4 * d);
    elements *= size;
    if (elements > kMaxElements) {
      fail(path, "implausible IDX sizes (corrupt header?)");
    }
    array.shape.push_back(size);
  }
  array.data.resize(elements);
  const std::int64_t got =
      readSome(file.get(), path, array.data.data(), elements);
  if (got != elements) {
    fail(path, fmt::format("truncated: expected {} data bytes, found {}",
                           elements, got));
  }
  std::uint8_t extra = 0;
  if (readSome(file.get(), path, &extra, 1) != 0) {
    fail(path, fmt::format("trailing bytes after the {} data bytes the header "
                           "declares",
                           elements));
  }
  return array;
}

}  // namespace labrun::data
