#include "data/VocAnnotations.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <pugixml.hpp>
#include <stdexcept>
#include <system_error>
#include <unordered_map>

#include "util/Strings.h"

namespace labrun::data {
namespace {

namespace fs = std::filesystem;
using util::trim;

// Image ids of the split, one per line (the first column: the per-class
// lists such as aeroplane_trainval.txt add a second one).
std::vector<std::string> splitIds(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    throw std::runtime_error(
        fmt::format("{}: cannot read the VOC image set", path));
  }
  std::vector<std::string> ids;
  std::unordered_map<std::string, int> seen;  // id -> line
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const std::string id(trim(line.substr(0, line.find_first_of(" \t"))));
    if (id.empty()) continue;
    // Listed twice, an image would count twice in every metric.
    const auto [previous, fresh] = seen.emplace(id, number);
    if (!fresh) {
      throw std::runtime_error(
          fmt::format("{}:{}: image '{}' is already listed on line {}", path,
                      number, id, previous->second));
    }
    ids.push_back(id);
  }
  if (ids.empty()) {
    throw std::runtime_error(
        fmt::format("{}: expected image ids, one per line; found none", path));
  }
  return ids;
}

// An object's <difficult>: 0 or 1 (absent: 0). pugixml's as_bool would
// read "maybe" as 0 and "yes" as 1 without a word.
bool isDifficult(const pugi::xml_node& object, const std::string& path) {
  const std::string text(trim(object.child_value("difficult")));
  if (text.empty() || text == "0") return false;
  if (text == "1") return true;
  throw std::runtime_error(fmt::format(
      "{}: object '{}' at byte {}: <difficult> is '{}'; expected 0 or 1", path,
      trim(object.child_value("name")), object.offset_debug(), text));
}

}  // namespace

ClassList vocClasses() {
  return ClassList(
      {"aeroplane",   "bicycle", "bird",  "boat",      "bottle",
       "bus",         "car",     "cat",   "chair",     "cow",
       "diningtable", "dog",     "horse", "motorbike", "person",
       "pottedplant", "sheep",   "sofa",  "train",     "tvmonitor"},
      "");
}

std::string vocSplitFile(const VocOptions& options) {
  return (fs::path(options.root) / "ImageSets" / "Main" /
          (options.split + ".txt"))
      .string();
}

std::vector<std::string> vocAnnotationFiles(const VocOptions& options) {
  std::vector<std::string> files;
  const fs::path folder = fs::path(options.root) / "Annotations";
  for (const std::string& id : splitIds(vocSplitFile(options))) {
    files.push_back((folder / (id + ".xml")).string());
  }
  return files;
}

LabelTable readVocAnnotations(const VocOptions& options) {
  const ClassList classes =
      options.classes.empty() ? vocClasses() : options.classes;
  const std::string split_file = vocSplitFile(options);
  const fs::path images = options.images.empty()
                              ? fs::path(options.root) / "JPEGImages"
                              : fs::path(options.images);
  const std::vector<std::string> ids = splitIds(split_file);

  LabelTable table;
  table.class_names = classes.names();
  table.states.assign(ids.size() * classes.size(), LabelTable::kNegative);
  std::vector<bool> annotated(ids.size(), false);
  const fs::path folder = fs::path(options.root) / "Annotations";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::string path = (folder / (ids[i] + ".xml")).string();
    pugi::xml_document xml;
    const pugi::xml_parse_result parsed = xml.load_file(path.c_str());
    if (parsed.status == pugi::status_file_not_found) {
      throw std::runtime_error(
          fmt::format("{}: no such annotation file (image '{}' of {})", path,
                      ids[i], split_file));
    }
    std::error_code error;
    if (!parsed && fs::is_directory(path, error)) {
      // pugixml would say "Could not allocate memory".
      throw std::runtime_error(
          fmt::format("{}: a folder, not an annotation file (image '{}' of {})",
                      path, ids[i], split_file));
    }
    if (!parsed) {
      throw std::runtime_error(fmt::format("{}: malformed XML at byte {}: {}",
                                           path, parsed.offset,
                                           parsed.description()));
    }
    const pugi::xml_node root = xml.child("annotation");
    if (!root) {
      throw std::runtime_error(fmt::format(
          "{}: not a VOC annotation: expected an <annotation> root element",
          path));
    }
    for (const pugi::xml_node object : root.children("object")) {
      const std::string name(trim(object.child_value("name")));
      const auto k = classes.find(name);
      if (!k) {
        throw std::runtime_error(fmt::format(
            "{}: object class '{}' is not in the class list ({})", path, name,
            classes.source().empty() ? "the 20 VOC classes"
                                     : classes.source()));
      }
      annotated[i] = true;
      std::uint8_t& state = table.at(i, *k);
      if (!isDifficult(object, path)) {
        state = LabelTable::kPositive;
      } else if (state != LabelTable::kPositive) {
        switch (options.difficult) {
          case Difficult::kIgnore:
            state = LabelTable::kIgnored;
            break;
          case Difficult::kPositive:
            state = LabelTable::kPositive;
            break;
          case Difficult::kNegative:
            break;
        }
      }
    }
    table.image_paths.push_back((images / (ids[i] + ".jpg")).string());
  }
  if (options.drop_unannotated) table.keepImages(annotated);
  return table;
}

}  // namespace labrun::data
