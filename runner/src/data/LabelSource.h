// From a spec to labels: reads data.format and the data.* keys of one split,
// checks that the files and folders they name exist, and returns the split's
// labels, parsed once and then read from the label cache.
#pragma once

#include <string>

#include "data/LabelSet.h"
#include "spec/Node.h"

namespace labrun::data {

// What loadLabels did, for `labrun prepare` and logs.
struct LabelLoadReport {
  std::string annotations;  // the annotation file (voc: the image-set list)
  std::string cache_file;   // "" with data.cache: false
  bool cache_hit = false;
  double seconds = 0;         // the whole load, cache included
  double cpu_seconds = 0;     // its process CPU time (robust on a busy host)
  std::size_t positives = 0;  // labels with target 1
  std::size_t ignored = 0;    // labels with mask 0
};

// Whether data.format is an annotation format (coco, voc, list) that
// loadLabels reads, rather than a generated set.
bool hasAnnotations(const spec::Node& tree);

// Labels of `split` ("train" or "val") of a validated spec. Relative paths
// in data.* resolve against data.root, and a relative data.root against
// `spec_dir` (the spec file's folder); image paths come out absolute.
// Throws spec::SpecError with the key's origin for spec problems (a format
// without annotations, a missing key, a file or folder that does not exist)
// and std::runtime_error naming the file for data problems (malformed
// annotations, a class list that does not match them, no images left).
LabelSet loadLabels(const spec::Node& tree, const std::string& split,
                    const std::string& spec_dir,
                    LabelLoadReport* report = nullptr);

}  // namespace labrun::data
