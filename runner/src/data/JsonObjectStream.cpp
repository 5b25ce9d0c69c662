#include "data/JsonObjectStream.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace labrun::data {
namespace {

namespace od = simdjson::ondemand;

bool isJsonSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

class File {
 public:
  explicit File(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat info {};
    if (fd_ < 0 || ::fstat(fd_, &info) != 0) fail("cannot open");
    if (!S_ISREG(info.st_mode)) {
      throw std::runtime_error(fmt::format("{}: not a regular file", path));
    }
    size_ = static_cast<std::size_t>(info.st_size);
  }
  ~File() {
    if (fd_ >= 0) ::close(fd_);
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  std::size_t size() const { return size_; }

  // Reads [offset, offset + length) into `out`.
  void read(std::size_t offset, std::size_t length, char* out) const {
    while (length > 0) {
      const ssize_t got = ::pread(fd_, out, length, static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) fail("cannot read");
      out += got;
      offset += static_cast<std::size_t>(got);
      length -= static_cast<std::size_t>(got);
    }
  }

  // First offset at or after `offset` that is not JSON whitespace (size()
  // when there is none).
  std::size_t skipSpace(std::size_t offset) const {
    char chunk[4096];
    while (offset < size_) {
      const std::size_t length = std::min(sizeof chunk, size_ - offset);
      read(offset, length, chunk);
      for (std::size_t i = 0; i < length; ++i) {
        if (!isJsonSpace(chunk[i])) return offset + i;
      }
      offset += length;
    }
    return size_;
  }

 private:
  [[noreturn]] void fail(const char* what) const {
    throw std::runtime_error(
        fmt::format("{}: {}: {}", path_, what, std::strerror(errno)));
  }

  std::string path_;
  int fd_ = -1;
  std::size_t size_ = 0;
};

// Where a window starts. Windows are whole documents for On-Demand: a window
// at a top-level key reads "{" + file..., one inside a top-level array "[" +
// file...; a window starting just past a complete value adds a dummy value
// ("{\"\":0" or "[0") so that the ',' which follows in the file parses.
struct Resume {
  std::size_t offset = 0;
  bool in_array = false;     // inside the top-level array being streamed
  bool after_value = false;  // `offset` is just past a complete value

  bool operator==(const Resume& other) const {
    return offset == other.offset && in_array == other.in_array &&
           after_value == other.after_value;
  }
  std::string_view prefix() const {
    if (in_array) return after_value ? "[0" : "[";
    return after_value ? "{\"\":0" : "{";
  }
};
constexpr std::size_t kLongestPrefix = 5;

// The outcome of one window.
struct Step {
  Resume next;           // where the next window starts
  bool done = false;     // the root object closed in this window
  std::size_t tail = 0;  // when done: file offset just past the root
  std::string error;     // when the window stopped on a parse error
};

class WindowReader {
 public:
  WindowReader(const File& file, JsonObjectStream::Sink& sink)
      : file_(file), sink_(sink) {}

  Step read(const Resume& at, std::size_t window) {
    at_ = at;
    resume_ = at;
    load(window);
    // The window may end inside a string, which swallows the closer so that
    // On-Demand finds the root unclosed; then the string is closed first
    // (" \"": the space also absorbs a cut escape character).
    for (const std::string_view quote : {"", " \""}) {
      std::size_t length = prefix_length_ + content_length_;
      std::memcpy(buffer_.get() + length, quote.data(), quote.size());
      length += quote.size();
      buffer_[length++] = at.in_array ? ']' : '}';
      std::memset(buffer_.get() + length, 0, simdjson::SIMDJSON_PADDING);
      od::document document;
      auto error =
          parser_.iterate(buffer_.get(), length, capacity_).get(document);
      // Indexing may already see the cut string.
      if (error == simdjson::UNCLOSED_STRING) continue;
      if (error) return {at, false, 0, simdjson::error_message(error)};
      try {
        if (at.in_array) {
          od::array array;
          error = document.get_array().get(array);
          if (error == simdjson::INCOMPLETE_ARRAY_OR_OBJECT) continue;
          if (error) return {at, false, 0, simdjson::error_message(error)};
          // After the array's end the window holds root-object fields, which
          // the next window reads as such.
          streamArray(array, document, /*skip_dummy=*/at.after_value);
          return {resume_};
        }
        od::object object;
        error = document.get_object().get(object);
        if (error == simdjson::INCOMPLETE_ARRAY_OR_OBJECT) continue;
        if (error) return {at, false, 0, simdjson::error_message(error)};
        return streamObject(object, document);
      } catch (const simdjson::simdjson_error& cut_or_malformed) {
        return {resume_, false, 0, cut_or_malformed.what()};
      }
    }
    return {at, false, 0,
            simdjson::error_message(simdjson::INCOMPLETE_ARRAY_OR_OBJECT)};
  }

  const std::string& arrayKey() const { return array_key_; }
  // Keys of the top-level arrays met so far, in file order.
  const std::vector<std::string>& arrays() const { return arrays_; }

 private:
  // Reads the window's bytes after the prefix, ending it before a UTF-8
  // continuation byte so that no character is cut.
  void load(std::size_t window) {
    const std::string_view prefix = at_.prefix();
    prefix_length_ = prefix.size();
    const std::size_t available = file_.size() - at_.offset;
    const std::size_t want = std::min(available, window + 1);
    // Room for the longest prefix, the bytes wanted, a closing quote and
    // bracket, and simdjson's padding, so that the buffer and the parser's
    // index are allocated once per window size; uninitialised: every byte
    // parsed is written first.
    const std::size_t capacity =
        kLongestPrefix + window + 1 + 3 + simdjson::SIMDJSON_PADDING;
    if (capacity > capacity_) {
      capacity_ = capacity;
      buffer_.reset(new char[capacity_]);
    }
    std::memcpy(buffer_.get(), prefix.data(), prefix.size());
    content_ = buffer_.get() + prefix.size();
    file_.read(at_.offset, want, content_);
    content_length_ = std::min(available, window);
    if (content_length_ < available) {
      while (content_length_ > 0 &&
             (static_cast<unsigned char>(content_[content_length_]) & 0xC0) ==
                 0x80) {
        --content_length_;
      }
    }
  }

  // File offset of a position in the window; positions past the content
  // (the synthetic closer) map to the window's end.
  std::size_t offsetOf(const char* position) const {
    const auto index = static_cast<std::size_t>(
        std::max<std::ptrdiff_t>(0, position - content_));
    return at_.offset + std::min(index, content_length_);
  }

  // Streams the fields of the root object; skips non-array values.
  Step streamObject(od::object object, od::document& document) {
    bool dummy = at_.after_value;
    for (auto result : object) {
      od::field field = std::move(result);
      if (dummy) {
        dummy = false;
        continue;
      }
      // Reaching a key proves the previous field complete.
      resume_ = {offsetOf(field.key().raw() - 1), false, false};
      const od::json_type type = field.value().type();
      if (type != od::json_type::array) continue;
      array_key_ = std::string(std::string_view(field.unescaped_key()));
      if (std::find(arrays_.begin(), arrays_.end(), array_key_) ==
          arrays_.end()) {
        arrays_.push_back(array_key_);
      }
      if (!streamArray(field.value().get_array(), document,
                       /*skip_dummy=*/false)) {
        return {resume_};
      }
    }
    // Closed by the synthetic '}' (nothing follows it): not the real end.
    auto after = document.current_location();
    if (after.error()) return {resume_};
    return {resume_, true, offsetOf(after.value_unsafe())};
  }

  // Streams the elements of one array to the sink; true when the array's
  // real closing ']' was read.
  bool streamArray(od::array array, od::document& document, bool skip_dummy) {
    bool dummy = skip_dummy;
    bool pending = false;
    for (auto result : array) {
      od::value element = std::move(result);
      if (dummy) {
        dummy = false;
        continue;
      }
      // Reaching an element proves the previous one complete.
      if (pending) sink_.commit();
      resume_ = {offsetOf(element.raw_json_token().data()), true, false};
      pending = true;
      sink_.parse(array_key_, element);
    }
    // Closed by the synthetic ']' (nothing follows it): the last element may
    // be cut.
    auto after = document.current_location();
    if (after.error()) return false;
    if (pending) sink_.commit();
    resume_ = {offsetOf(after.value_unsafe()), false, true};
    return true;
  }

  const File& file_;
  JsonObjectStream::Sink& sink_;
  od::parser parser_;
  std::unique_ptr<char[]> buffer_;
  std::size_t capacity_ = 0;
  std::size_t prefix_length_ = 0;
  char* content_ = nullptr;
  std::size_t content_length_ = 0;
  Resume at_;
  Resume resume_;
  std::string array_key_;
  std::vector<std::string> arrays_;
};

}  // namespace

JsonObjectStream::JsonObjectStream(std::string path, std::size_t window_bytes)
    : path_(std::move(path)),
      window_bytes_(std::max<std::size_t>(window_bytes, 16)) {}

std::vector<std::string> JsonObjectStream::read(Sink& sink) {
  const File file(path_);
  // A UTF-8 byte order mark, as some Windows editors write: RFC 8259 lets a
  // parser ignore it, and it says nothing else.
  char bom[3] = {};
  if (file.size() >= sizeof bom) file.read(0, sizeof bom, bom);
  const bool has_bom = std::string(bom, sizeof bom) == "\xEF\xBB\xBF";
  const std::size_t open = file.skipSpace(has_bom ? sizeof bom : 0);
  char first = 0;
  if (open < file.size()) file.read(open, 1, &first);
  if (first != '{') {
    const std::string found =
        open == file.size() ? "an empty file"
        : (first >= 0x20 && first < 0x7f)
            ? fmt::format("'{}' at byte {}", first, open)
            : fmt::format("byte 0x{:02x} at byte {} (binary data)",
                          static_cast<unsigned char>(first), open);
    throw std::runtime_error(fmt::format(
        "{}: not a JSON object: expected '{{', found {}", path_, found));
  }

  WindowReader reader(file, sink);
  largest_window_ = 0;
  Resume at{open + 1, false, false};
  std::size_t window = window_bytes_;
  while (true) {
    const Step step = reader.read(at, window);
    largest_window_ = std::max(largest_window_, window);
    if (step.done) {
      const std::size_t garbage = file.skipSpace(step.tail);
      if (garbage != file.size()) {
        throw std::runtime_error(fmt::format(
            "{}: malformed JSON: unexpected content after the root object "
            "at byte {}",
            path_, garbage));
      }
      return reader.arrays();
    }
    if (!(step.next == at)) {
      at = step.next;
      window = window_bytes_;
      continue;
    }
    // Nothing in the window could be accepted: an element larger than the
    // window, or an error that a larger window will not cure.
    if (at.offset + window >= file.size()) {
      const std::string where =
          at.in_array
              ? fmt::format("in '{}' element starting at byte {}",
                            reader.arrayKey(), at.offset)
              : fmt::format("in the root object after byte {}", at.offset);
      throw std::runtime_error(fmt::format(
          "{}: malformed or truncated JSON {}: {}", path_, where,
          step.error.empty() ? "unexpected end of file" : step.error));
    }
    window *= 2;
  }
}

}  // namespace labrun::data
