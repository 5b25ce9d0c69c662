// An ordered list of class names: the label-vector order of a dataset, read
// from a `data.classes` file or built in (e.g. the 20 VOC classes).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace labrun::data {

class ClassList {
 public:
  ClassList() = default;
  // `source` names the file the names came from ("" for built-in lists).
  ClassList(std::vector<std::string> names, std::string source);

  // Reads a `.tsv` file with a header holding a `name` column (e.g.
  // shared/data/coco2014/classes.tsv), or any other file as one name per line
  // (blank lines skipped, surrounding whitespace trimmed). Throws
  // std::runtime_error naming the file (and line) when it cannot be read, a
  // `.tsv` has no `name` column or a row misses it, a name repeats, or the
  // list is empty.
  static ClassList read(const std::string& path);

  const std::vector<std::string>& names() const { return names_; }
  const std::string& source() const { return source_; }
  std::size_t size() const { return names_.size(); }
  bool empty() const { return names_.empty(); }
  // Position of `name` in the list.
  std::optional<std::size_t> find(const std::string& name) const;

 private:
  std::vector<std::string> names_;
  std::string source_;
  std::unordered_map<std::string, std::size_t> index_;
};

}  // namespace labrun::data
