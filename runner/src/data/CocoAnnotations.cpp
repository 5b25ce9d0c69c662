#include "data/CocoAnnotations.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "data/JsonObjectStream.h"

namespace labrun::data {
namespace {

namespace od = simdjson::ondemand;
constexpr std::int64_t kMissing = INT64_MIN;

struct Image {
  std::int64_t id = kMissing;
  std::string file_name;
};

struct Annotation {
  std::int64_t image_id = kMissing;
  std::int64_t category_id = kMissing;
};

struct Category {
  std::int64_t id = kMissing;
  std::string name;
};

// Calls `read(name, value)` for each field of the object `element`.
template <typename Read>
void forEachField(od::value element, Read&& read) {
  for (auto result : element.get_object()) {
    od::field field = std::move(result);
    read(field.key(), field.value());
  }
}

// Collects ids and names; everything else (segmentations, boxes) is skipped
// unread, which is where On-Demand saves its time.
class CocoSink : public JsonObjectStream::Sink {
 public:
  explicit CocoSink(const std::string& path) : path_(path) {}

  void parse(std::string_view key, od::value element) override {
    using Name = const od::raw_json_string&;
    wrong_type_.clear();
    if (key == "annotations") {
      kind_ = Kind::kAnnotation;
      annotation_ = {};
      forEachField(element, [this](Name name, od::value& value) {
        if (name == "image_id") {
          readInteger(value, "image_id", annotation_.image_id);
        } else if (name == "category_id") {
          readInteger(value, "category_id", annotation_.category_id);
        }
      });
    } else if (key == "images") {
      kind_ = Kind::kImage;
      image_.id = kMissing;
      image_.file_name.clear();
      forEachField(element, [this](Name name, od::value& value) {
        if (name == "id") {
          readInteger(value, "id", image_.id);
        } else if (name == "file_name") {
          readString(value, "file_name", image_.file_name);
        }
      });
    } else if (key == "categories") {
      kind_ = Kind::kCategory;
      category_ = {};
      forEachField(element, [this](Name name, od::value& value) {
        if (name == "id") {
          readInteger(value, "id", category_.id);
        } else if (name == "name") {
          readString(value, "name", category_.name);
        }
      });
    } else {
      kind_ = Kind::kOther;
    }
  }

  void commit() override {
    if (!wrong_type_.empty()) {
      const auto [array, index] =
          kind_ == Kind::kImage ? std::pair{"images", images.size()}
          : kind_ == Kind::kAnnotation
              ? std::pair{"annotations", annotations.size()}
              : std::pair{"categories", categories.size()};
      throw std::runtime_error(
          fmt::format("{}: {}[{}].{}", path_, array, index, wrong_type_));
    }
    switch (kind_) {
      case Kind::kAnnotation:
        require(annotation_.image_id, "annotations", annotations.size(),
                "image_id");
        require(annotation_.category_id, "annotations", annotations.size(),
                "category_id");
        annotations.push_back(annotation_);
        break;
      case Kind::kImage:
        require(image_.id, "images", images.size(), "id");
        if (image_.file_name.empty()) {
          missing("images", images.size(), "file_name");
        }
        images.push_back(image_);
        break;
      case Kind::kCategory:
        require(category_.id, "categories", categories.size(), "id");
        if (category_.name.empty()) {
          missing("categories", categories.size(), "name");
        }
        categories.push_back(category_);
        break;
      case Kind::kOther:
        break;
    }
  }

  std::vector<Image> images;
  std::vector<Annotation> annotations;
  std::vector<Category> categories;

 private:
  enum class Kind { kImage, kAnnotation, kCategory, kOther };

  // A field of the wrong type is noted for commit(), which names it: parse()
  // may throw only simdjson's errors (an element cut by the window looks
  // malformed and is read again).
  void readInteger(od::value& value, const char* field, std::int64_t& out) {
    const simdjson::error_code error = value.get_int64().get(out);
    if (error == simdjson::INCORRECT_TYPE ||
        error == simdjson::NUMBER_OUT_OF_RANGE) {
      noteWrongType(value, field, "expected a 64-bit integer");
    } else if (error) {
      throw simdjson::simdjson_error(error);
    }
  }
  void readString(od::value& value, const char* field, std::string& out) {
    std::string_view text;
    const simdjson::error_code error = value.get_string().get(text);
    if (error == simdjson::INCORRECT_TYPE) {
      noteWrongType(value, field, "expected a string");
    } else if (error) {
      throw simdjson::simdjson_error(error);
    } else {
      out = text;
    }
  }
  void noteWrongType(od::value& value, const char* field,
                     const char* expected) {
    if (!wrong_type_.empty()) return;
    // The token as written (On-Demand leaves the whitespace after it).
    std::string_view token = value.raw_json_token();
    token = token.substr(0, token.find_last_not_of(" \t\r\n") + 1);
    wrong_type_ =
        fmt::format("{}: {}, found {}", field, expected, token.substr(0, 40));
  }

  void require(std::int64_t value, const char* array, std::size_t index,
               const char* key) const {
    if (value == kMissing) missing(array, index, key);
  }
  [[noreturn]] void missing(const char* array, std::size_t index,
                            const char* key) const {
    throw std::runtime_error(
        fmt::format("{}: not a COCO instances file: {}[{}] has no '{}'", path_,
                    array, index, key));
  }

  const std::string& path_;
  std::string wrong_type_;  // "<field>: expected ..., found ..." or ""
  Kind kind_ = Kind::kOther;
  Image image_;
  Annotation annotation_;
  Category category_;
};

// Position of each id: a flat table when the ids are dense enough (COCO's
// 83k image ids lie below 600k), else a hash map.
class IdIndex {
 public:
  // Throws std::runtime_error naming `what` and `file` on a repeated id.
  IdIndex(const std::vector<std::int64_t>& ids, const char* what,
          const std::string& file) {
    if (ids.empty()) return;
    const auto [low, high] = std::minmax_element(ids.begin(), ids.end());
    const std::uint64_t span =
        static_cast<std::uint64_t>(*high) - static_cast<std::uint64_t>(*low);
    const bool flat = span < 8 * ids.size() + 4096;
    if (flat) {
      low_ = *low;
      table_.assign(span + 1, 0);
    }
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const bool fresh = flat ? std::exchange(table_[ids[i] - low_], i + 1) == 0
                              : map_.emplace(ids[i], i).second;
      if (!fresh) {
        throw std::runtime_error(
            fmt::format("{}: {} id {} is listed twice", file, what, ids[i]));
      }
    }
  }

  std::optional<std::size_t> find(std::int64_t id) const {
    if (!table_.empty()) {
      if (id < low_ || id - low_ >= static_cast<std::int64_t>(table_.size()) ||
          table_[id - low_] == 0) {
        return std::nullopt;
      }
      return table_[id - low_] - 1;
    }
    const auto it = map_.find(id);
    if (it == map_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::int64_t low_ = 0;
  std::vector<std::size_t> table_;  // id - low_ -> position + 1; 0: absent
  std::unordered_map<std::int64_t, std::size_t> map_;
};

// Label column of each category (in `categories` order), as the options
// ask: by id, or by the class list.
std::vector<std::size_t> categoryColumns(
    const CocoOptions& options, const std::vector<Category>& categories,
    std::vector<std::string>& class_names) {
  std::vector<std::size_t> by_id(categories.size());
  std::iota(by_id.begin(), by_id.end(), 0);
  std::sort(by_id.begin(), by_id.end(), [&](std::size_t a, std::size_t b) {
    return categories[a].id < categories[b].id;
  });
  std::vector<std::size_t> column(categories.size());
  if (options.classes.empty()) {
    for (std::size_t k = 0; k < by_id.size(); ++k) {
      column[by_id[k]] = k;
      class_names.push_back(categories[by_id[k]].name);
    }
    return column;
  }
  const ClassList& classes = options.classes;
  for (const std::size_t c : by_id) {
    const auto k = classes.find(categories[c].name);
    if (!k) {
      throw std::runtime_error(fmt::format(
          "{}: category '{}' (id {}) of {} is not in the class list",
          classes.source(), categories[c].name, categories[c].id,
          options.annotations));
    }
    column[c] = *k;
  }
  if (classes.size() != categories.size()) {
    std::vector<std::string> unknown;
    for (const std::string& name : classes.names()) {
      if (std::none_of(categories.begin(), categories.end(),
                       [&](const Category& c) { return c.name == name; })) {
        unknown.push_back("'" + name + "'");
      }
    }
    throw std::runtime_error(fmt::format(
        "{}: {} classes, but {} has {} categories; not categories there: {}",
        classes.source(), classes.size(), options.annotations,
        categories.size(), fmt::join(unknown, ", ")));
  }
  class_names = classes.names();
  return column;
}

}  // namespace

LabelTable readCocoAnnotations(const CocoOptions& options) {
  CocoSink sink(options.annotations);
  const std::vector<std::string> arrays =
      JsonObjectStream(options.annotations,
                       options.window_bytes > 0
                           ? options.window_bytes
                           : JsonObjectStream::kDefaultWindow)
          .read(sink);
  for (const char* key : {"images", "annotations", "categories"}) {
    if (std::find(arrays.begin(), arrays.end(), key) == arrays.end()) {
      throw std::runtime_error(fmt::format(
          "{}: not a COCO instances file: no '{}' array (top-level arrays: "
          "{})",
          options.annotations, key,
          arrays.empty() ? "none"
                         : fmt::format("{}", fmt::join(arrays, ", "))));
    }
  }

  LabelTable table;
  const std::vector<Category>& categories = sink.categories;
  if (categories.empty()) {
    throw std::runtime_error(fmt::format(
        "{}: 'categories' is empty; a COCO instances file lists its classes "
        "there",
        options.annotations));
  }
  const std::vector<std::size_t> column =
      categoryColumns(options, categories, table.class_names);
  std::vector<std::int64_t> ids;
  for (const Category& category : categories) ids.push_back(category.id);
  const IdIndex category_index(ids, "category", options.annotations);
  ids.clear();
  for (const Image& image : sink.images) ids.push_back(image.id);
  const IdIndex image_index(ids, "image", options.annotations);

  std::string folder = options.images;
  if (!folder.empty() && folder.back() != '/') folder += '/';
  table.image_paths.reserve(sink.images.size());
  for (const Image& image : sink.images) {
    table.image_paths.push_back(image.file_name.front() == '/'
                                    ? image.file_name
                                    : folder + image.file_name);
  }
  table.states.assign(table.numImages() * table.numClasses(),
                      LabelTable::kNegative);
  std::vector<bool> annotated(table.numImages(), false);
  for (std::size_t a = 0; a < sink.annotations.size(); ++a) {
    const Annotation& annotation = sink.annotations[a];
    const auto row = image_index.find(annotation.image_id);
    if (!row) {
      throw std::runtime_error(fmt::format(
          "{}: annotations[{}] refers to image_id {}, which is not in "
          "'images'",
          options.annotations, a, annotation.image_id));
    }
    const auto category = category_index.find(annotation.category_id);
    if (!category) {
      throw std::runtime_error(fmt::format(
          "{}: annotations[{}] refers to category_id {}, which is not in "
          "'categories'",
          options.annotations, a, annotation.category_id));
    }
    table.at(*row, column[*category]) = LabelTable::kPositive;
    annotated[*row] = true;
  }
  if (options.drop_unannotated) table.keepImages(annotated);
  return table;
}

}  // namespace labrun::data
