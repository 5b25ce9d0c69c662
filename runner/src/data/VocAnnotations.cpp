#include "data/VocAnnotations.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <pugixml.hpp>
#include <stdexcept>

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
  std::string line;
  while (std::getline(in, line)) {
    const std::string id(trim(line.substr(0, line.find_first_of(" \t"))));
    if (!id.empty()) ids.push_back(id);
  }
  if (ids.empty()) {
    throw std::runtime_error(
        fmt::format("{}: expected image ids, one per line; found none", path));
  }
  return ids;
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
      if (!object.child("difficult").text().as_bool()) {
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
