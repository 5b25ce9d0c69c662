// From the data.* options to labels: checks that the files and folders they
// name exist, and returns a split's label table, parsed once and then read
// from the label cache. No LibTorch here, so `labrun prepare` runs in the
// front end (data/LabelSet.h makes the tensors).
#pragma once

#include <optional>
#include <string>

#include "data/ClassList.h"
#include "data/LabelTable.h"
#include "spec/Located.h"

namespace labrun::data {

// What loadLabelTable did, for `labrun prepare` and logs.
struct LabelLoadReport {
  std::string annotations;  // the annotation file (voc: the image-set list)
  std::string cache_file;   // "" with data.cache: false
  bool cache_hit = false;
  bool cache_stored = false;  // the cache file holds these labels now
  double seconds = 0;         // the whole load, cache included
  double cpu_seconds = 0;     // its process CPU time (robust on a busy host)
  std::size_t positives = 0;  // labels with target 1
  std::size_t ignored = 0;    // labels with mask 0
};

// Whether data.format is an annotation format (coco, voc, list) that
// loadLabelTable reads, rather than a generated set.
bool hasAnnotations(const std::string& format);

// The data.* keys that loadLabelTable reads, each with where it was
// written (train/LabelSourceBinding binds them).
struct LabelSourceOptions {
  // The files of one split (data.train.*, data.val.*); absent when not
  // written.
  struct Split {
    std::optional<spec::Located<std::string>> annotations, images;
    spec::Located<std::string> split;  // voc: the image set
  };
  spec::Located<std::string> format;  // coco | voc | list
  spec::Located<std::string> root;
  spec::Located<std::string> classes;  // "" = the format's own order
  bool drop_unannotated = false;
  std::string difficult = "ignore";  // voc: ignore | positive | negative
  bool cache = true;
  std::string cache_dir;
  Split train, val;
};

// The class names in label-vector order where they are known without
// reading annotations: the data.classes file, or VOC's own 20 classes;
// nullopt where the annotations give the order (coco, list). Throws as
// loadLabelTable does for a missing root or class file, or a bad list.
std::optional<ClassList> declaredClasses(const LabelSourceOptions& options,
                                         const std::string& spec_dir);

// Labels of `split` ("train" or "val"). Relative paths resolve against
// `root`, and a relative `root` against `spec_dir` (the spec file's
// folder); image paths come out absolute. Throws spec::SpecError with the
// key's origin for spec problems (a format without annotations, a missing
// key, a file or folder that does not exist) and std::runtime_error naming
// the file for data problems (malformed annotations, a class list that does
// not match them, no images left).
LabelTable loadLabelTable(const LabelSourceOptions& options,
                          const std::string& split, const std::string& spec_dir,
                          LabelLoadReport* report = nullptr);

}  // namespace labrun::data
