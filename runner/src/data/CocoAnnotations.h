// COCO instances files (instances_train2014.json and the like) as labels:
// an image is positive for a category when any of its annotations, crowd
// ones included, has that category.
#pragma once

#include <cstddef>
#include <string>

#include "data/ClassList.h"
#include "data/LabelTable.h"

namespace labrun::data {

struct CocoOptions {
  std::string annotations;  // the instances JSON file
  std::string images;       // folder that `file_name` entries are in
  // Label order and names; empty: every category, sorted by category id.
  // Otherwise it must name every category (names not found and count
  // mismatches are errors naming both files).
  ClassList classes;
  // Images without any annotation: dropped, or kept as all-negative rows.
  bool drop_unannotated = false;
  // Bytes of the file indexed at a time (see JsonObjectStream); 0: default.
  std::size_t window_bytes = 0;
};

// Rows follow the order of the file's `images` array. Throws
// std::runtime_error naming the file: not a JSON object, malformed or
// truncated JSON, no `images`/`annotations`/`categories` array, an image or
// annotation without its ids, an annotation naming an unknown image or
// category, repeated ids, or a class list that does not match.
LabelTable readCocoAnnotations(const CocoOptions& options);

}  // namespace labrun::data
