// PASCAL VOC (VOCdevkit layout: Annotations/<id>.xml,
// ImageSets/Main/<split>.txt, JPEGImages/<id>.jpg) as labels.
#pragma once

#include <string>

#include "data/ClassList.h"
#include "data/LabelTable.h"

namespace labrun::data {

// What a class seen only on objects marked `difficult` becomes for an image.
enum class Difficult {
  kIgnore,    // masked out of loss and metrics (the VOC protocol)
  kPositive,  // a positive label
  kNegative,  // a negative label (the released SSGRL code)
};

struct VocOptions {
  std::string root;    // the VOC2007 folder (Annotations/, ImageSets/, ...)
  std::string split;   // image set: ImageSets/Main/<split>.txt
  std::string images;  // image folder; empty: <root>/JPEGImages
  // Label order; empty: the 20 VOC classes in the standard order.
  ClassList classes;
  Difficult difficult = Difficult::kIgnore;
  // Images without any object: dropped, or kept as all-negative rows.
  bool drop_unannotated = false;
};

// The 20 VOC classes, aeroplane .. tvmonitor.
ClassList vocClasses();
// <root>/ImageSets/Main/<split>.txt.
std::string vocSplitFile(const VocOptions& options);
// The annotation files of the split's images, in split order. Throws
// std::runtime_error naming the split file when it cannot be read.
std::vector<std::string> vocAnnotationFiles(const VocOptions& options);

// Rows follow the split file. A class is positive for an image when any of
// its objects of that class is not difficult. Throws std::runtime_error
// naming the file: unreadable split list, missing or malformed XML, an
// object whose class is not in the class list.
LabelTable readVocAnnotations(const VocOptions& options);

}  // namespace labrun::data
