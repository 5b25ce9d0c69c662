#include "io/Npy.h"

#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <vector>

namespace labrun::io {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicSize = 6;

struct Header {
  std::string descr;
  bool fortran_order = false;
  std::vector<std::int64_t> shape;
};

// The header is a Python dict literal such as
// "{'descr': '<f4', 'fortran_order': False, 'shape': (80, 300), }".
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& path)
      : text_(text), path_(path) {}

  Header parse() {
    Header header;
    bool seen_descr = false, seen_order = false, seen_shape = false;
    expect('{');
    while (!consume('}')) {
      const std::string key = quoted();
      expect(':');
      if (key == "descr") {
        skipSpace();
        if (peek() == '[') fail("structured dtypes are not supported");
        header.descr = quoted();
        seen_descr = true;
      } else if (key == "fortran_order") {
        header.fortran_order = boolean();
        seen_order = true;
      } else if (key == "shape") {
        header.shape = tuple();
        seen_shape = true;
      } else {
        fail("unexpected header key '" + key + "'");
      }
      if (!consume(',')) {
        expect('}');
        break;
      }
    }
    if (!seen_descr || !seen_order || !seen_shape) {
      fail("header lacks one of 'descr', 'fortran_order', 'shape'");
    }
    return header;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error(path_ + ": malformed .npy header (" + what +
                             "): " + text_);
  }
  void skipSpace() {
    while (pos_ < text_.size() &&
           std::isspace(static_cast<unsigned char>(text_[pos_]))) {
      ++pos_;
    }
  }
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  bool consume(char c) {
    skipSpace();
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  void expect(char c) {
    if (!consume(c)) fail(std::string("expected '") + c + "'");
  }
  std::string quoted() {
    skipSpace();
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("expected a quoted string");
    const std::size_t end = text_.find(quote, pos_ + 1);
    if (end == std::string::npos) fail("unterminated string");
    std::string value = text_.substr(pos_ + 1, end - pos_ - 1);
    pos_ = end + 1;
    return value;
  }
  bool boolean() {
    skipSpace();
    for (const auto& [word, value] :
         {std::pair{"True", true}, {"False", false}}) {
      const std::size_t length = std::strlen(word);
      if (text_.compare(pos_, length, word) == 0) {
        pos_ += length;
        return value;
      }
    }
    fail("expected True or False");
  }
  std::vector<std::int64_t> tuple() {
    std::vector<std::int64_t> values;
    expect('(');
    while (!consume(')')) {
      skipSpace();
      std::size_t digits = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        ++pos_;
        ++digits;
      }
      if (digits == 0 || digits > 18) fail("expected a dimension");
      values.push_back(std::stoll(text_.substr(pos_ - digits, digits)));
      if (!consume(',')) {
        expect(')');
        break;
      }
    }
    return values;
  }

  const std::string& text_;
  const std::string& path_;
  std::size_t pos_ = 0;
};

struct ElementType {
  torch::ScalarType scalar_type;
  std::size_t size;
  bool big_endian;
};

ElementType elementType(const std::string& descr, const std::string& path) {
  const auto unsupported = [&]() -> ElementType {
    throw std::runtime_error(path + ": unsupported dtype '" + descr +
                             "' (expected float32, float64, int32, int64, "
                             "uint8 or bool)");
  };
  if (descr.size() < 3) unsupported();
  const char order = descr[0];
  const std::string kind = descr.substr(1);
  if (order != '<' && order != '>' && order != '|' && order != '=') {
    unsupported();
  }
  // '=' is native order, and every platform LibTorch runs on is
  // little-endian.
  const bool big_endian = order == '>';
  if (kind == "f4") return {torch::kFloat, 4, big_endian};
  if (kind == "f8") return {torch::kDouble, 8, big_endian};
  if (kind == "i4") return {torch::kInt, 4, big_endian};
  if (kind == "i8") return {torch::kLong, 8, big_endian};
  if (kind == "u1") return {torch::kByte, 1, false};
  if (kind == "b1") return {torch::kBool, 1, false};
  return unsupported();
}

std::string readAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open for reading");
  return {std::istreambuf_iterator<char>(in), {}};
}

std::uint32_t littleEndian(const std::string& bytes, std::size_t offset,
                           std::size_t width) {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < width; ++i) {
    value |= static_cast<std::uint32_t>(
                 static_cast<unsigned char>(bytes[offset + i]))
             << (8 * i);
  }
  return value;
}

// The bytes of an array of `shape`, or none when it is too large for a
// tensor: the product of its non-zero dimensions must fit in int64 (as
// LibTorch requires even of an empty tensor), and its bytes in 64 bits. A
// header's dimensions have up to 18 digits each, so the products can
// overflow.
std::optional<std::uint64_t> dataBytes(const std::vector<std::int64_t>& shape,
                                       std::size_t element_size) {
  std::int64_t elements = 1;
  bool empty = false;
  for (std::int64_t dim : shape) {
    if (dim == 0) {
      empty = true;
    } else if (__builtin_mul_overflow(elements, dim, &elements)) {
      return std::nullopt;
    }
  }
  std::uint64_t bytes = 0;
  if (__builtin_mul_overflow(static_cast<std::uint64_t>(elements),
                             std::uint64_t{element_size}, &bytes)) {
    return std::nullopt;
  }
  return empty ? 0 : bytes;
}

std::string shapeText(const std::vector<std::int64_t>& shape) {
  std::string text;
  for (std::int64_t dim : shape) {
    text += (text.empty() ? "" : ", ") + std::to_string(dim);
  }
  return "(" + text + ")";
}

}  // namespace

torch::Tensor readNpy(const std::string& path) {
  std::string bytes = readAll(path);
  if (bytes.size() < kMagicSize + 2 ||
      bytes.compare(0, kMagicSize, kMagic, kMagicSize) != 0) {
    throw std::runtime_error(path +
                             ": not a NumPy .npy file (bad magic string)");
  }
  const int major = static_cast<unsigned char>(bytes[kMagicSize]);
  if (major < 1 || major > 3) {
    throw std::runtime_error(path + ": unsupported .npy format version " +
                             std::to_string(major) + " (expected 1, 2 or 3)");
  }
  // Version 1 stores the header length in 2 bytes, versions 2 and 3 in 4.
  const std::size_t length_width = major == 1 ? 2 : 4;
  const std::size_t header_start = kMagicSize + 2 + length_width;
  if (bytes.size() < header_start) {
    throw std::runtime_error(path + ": truncated .npy header");
  }
  const std::size_t header_length =
      littleEndian(bytes, kMagicSize + 2, length_width);
  if (bytes.size() < header_start + header_length) {
    throw std::runtime_error(path + ": truncated .npy header");
  }
  const std::string header_text = bytes.substr(header_start, header_length);
  const Header header = HeaderParser(header_text, path).parse();
  const ElementType type = elementType(header.descr, path);

  const std::size_t data_start = header_start + header_length;
  const std::optional<std::uint64_t> expected =
      dataBytes(header.shape, type.size);
  if (!expected) {
    throw std::runtime_error(path + ": shape " + shapeText(header.shape) +
                             " of '" + header.descr +
                             "' is too large (more than 2^63 elements or "
                             "2^64 bytes)");
  }
  if (bytes.size() - data_start != *expected) {
    throw std::runtime_error(
        path + ": data holds " + std::to_string(bytes.size() - data_start) +
        " bytes, expected " + std::to_string(*expected) + " for shape " +
        shapeText(header.shape) + " of '" + header.descr + "'");
  }
  char* data = bytes.data() + data_start;
  if (type.big_endian) {
    for (std::size_t i = 0; i < *expected; i += type.size) {
      std::reverse(data + i, data + i + type.size);
    }
  }

  // Fortran order is C order of the reversed shape, transposed.
  std::vector<std::int64_t> shape = header.shape;
  if (header.fortran_order) std::reverse(shape.begin(), shape.end());
  const torch::ScalarType storage_type =
      type.scalar_type == torch::kBool ? torch::kByte : type.scalar_type;
  torch::Tensor tensor =
      torch::from_blob(data, shape, torch::TensorOptions(storage_type)).clone();
  // Any non-zero byte is true, as in NumPy.
  if (type.scalar_type == torch::kBool) tensor = tensor.ne(0);
  if (header.fortran_order && tensor.dim() > 1) {
    std::vector<std::int64_t> reversed(tensor.dim());
    for (std::int64_t i = 0; i < tensor.dim(); ++i) {
      reversed[i] = tensor.dim() - 1 - i;
    }
    tensor = tensor.permute(reversed).contiguous();
  }
  return tensor;
}

}  // namespace labrun::io
