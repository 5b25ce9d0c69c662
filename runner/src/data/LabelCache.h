// A file holding one split's parsed labels (LabelTable), so that only the
// first run parses the annotations.
//
// The cache is valid while its sources (annotation files, class list) are
// unchanged. It records each source's size and modification time, checked
// on every load (a few stat calls), and an XXH3-128 hash of their bytes,
// computed only when the sizes match but a time differs (a copied or touched
// dataset keeps its cache; the times are then refreshed). Everything else
// the labels depend on (format, options, folders) is the cache's key: a
// cache written under another key is rebuilt. Files are written atomically
// (temporary file + rename) and carry a checksum: a corrupt one is reported
// and rebuilt. The byte layout is native (little-endian, this machine's).
#pragma once

#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "data/LabelTable.h"

namespace labrun::data {

class LabelCache {
 public:
  // `file`: the cache file; `key`: what else the labels depend on;
  // `sources`: the files they are read from.
  LabelCache(std::string file, std::string key,
             std::vector<std::string> sources);

  struct Result {
    LabelTable table;
    bool hit = false;     // read from the cache rather than built
    bool stored = false;  // the cache file holds the table (hit or written)
  };

  // The cached table when the cache is valid; otherwise `build()`'s, which is
  // then written to the cache. Problems with the cache file itself (corrupt,
  // unwritable) are reported on `warnings` and never fail the load.
  Result loadOrBuild(const std::function<LabelTable()>& build,
                     std::ostream& warnings = std::cerr) const;

  const std::string& file() const { return file_; }

  // The cache file for labels read from `anchor` (the main annotation file)
  // under `key`: in `cache_dir` when it is not empty, else next to `anchor`
  // when its folder is writable, else in $XDG_CACHE_HOME/labrun (default
  // ~/.cache/labrun). The name is the anchor's plus a hash of its absolute
  // path and the key: "instances_train2014.json.<16 hex>.labels".
  static std::string location(const std::string& anchor, const std::string& key,
                              const std::string& cache_dir);

 private:
  std::string file_;
  std::string key_;
  std::vector<std::string> sources_;
};

}  // namespace labrun::data
