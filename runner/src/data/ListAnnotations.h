// Label lists: one image per line, either
//   path/to/image.jpg 3 17 42      (space-separated label indices), or
//   path/to/image.jpg,0,1,0,...,1  (a dense 0/1 row, as VG-500 ships).
// Blank lines and lines starting with '#' are skipped; the style is that of
// the first image line and every line must follow it.
#pragma once

#include <string>

#include "data/ClassList.h"
#include "data/LabelTable.h"

namespace labrun::data {

struct ListOptions {
  std::string list;    // the list file
  std::string images;  // folder relative paths are in; empty: the list's
  // Label names; empty: class0, class1, ... (as many as the rows need).
  ClassList classes;
  // Images without any label: dropped, or kept as all-negative rows.
  bool drop_unannotated = false;
};

// Throws std::runtime_error naming the file and line: an index that is not
// a non-negative integer or is outside the class list, a dense value other
// than 0 or 1, a row of another length or style, a class list whose size
// differs from the dense rows.
LabelTable readListAnnotations(const ListOptions& options);

}  // namespace labrun::data
