// Reads a JSON file whose root is an object (a COCO instances file) in
// bounded memory. simdjson On-Demand indexes a whole document before it is
// read, and its structural index takes about as many bytes again as the file
// (it is number-dense: polygons), so a 170 MB file would need ~400 MB. Here
// On-Demand sees one window of the file at a time (1 MiB by default, so
// that the window and its index stay in the CPU's caches: 1.7x faster than
// 8 MiB windows on COCO's train file, tools/bench/label_cache). Each window
// is made a small document of its own by a synthetic opening and closing
// bracket, and whatever the window cut is read again, whole, from the next
// one.
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace labrun::data {

class JsonObjectStream {
 public:
  // Receives the elements of every top-level array, in file order. An element
  // cut by a window end is parsed again from the next window, so `parse` may
  // see an element more than once; `commit` then accepts the element last
  // parsed, once it is known to be complete. Other top-level values are
  // skipped.
  class Sink {
   public:
    virtual ~Sink() = default;
    // Reads `element` of top-level array `key` into pending state. Must throw
    // nothing but simdjson_error: an element that is cut may look malformed.
    virtual void parse(std::string_view key,
                       simdjson::ondemand::value element) = 0;
    // Accepts the pending element; may throw std::runtime_error for content
    // problems (a missing field).
    virtual void commit() = 0;
  };

  static constexpr std::size_t kDefaultWindow = std::size_t{1} << 20;

  // `window_bytes`: bytes indexed at a time; a window doubles while one
  // element (or top-level value) does not fit in it, for that element only.
  explicit JsonObjectStream(std::string path,
                            std::size_t window_bytes = kDefaultWindow);

  // Streams the file through `sink` and returns the keys of the top-level
  // arrays, in file order. Throws std::runtime_error naming the file (and
  // byte offset) when it cannot be read, is not a JSON object, is malformed
  // or truncated.
  std::vector<std::string> read(Sink& sink);

  // The largest window the last read indexed: window_bytes unless a single
  // element or top-level value was larger.
  std::size_t largestWindow() const { return largest_window_; }

 private:
  std::string path_;
  std::size_t window_bytes_;
  std::size_t largest_window_ = 0;
};

}  // namespace labrun::data
