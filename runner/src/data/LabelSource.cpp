#include "data/LabelSource.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <functional>
#include <stdexcept>

#include "data/CocoAnnotations.h"
#include "data/LabelCache.h"
#include "data/ListAnnotations.h"
#include "data/VocAnnotations.h"
#include "spec/SpecError.h"

namespace labrun::data {
namespace {

namespace fs = std::filesystem;

// Bumped whenever a reader changes what it produces, so old caches go stale.
constexpr int kLabelsVersion = 1;

using Located = spec::Located<std::string>;

[[noreturn]] void specError(const std::string& origin, const std::string& key,
                            const std::string& what) {
  throw spec::SpecError(fmt::format("{}: {}: {}", origin, key, what));
}

// The data.* options of one split, with paths resolved and checked.
class SplitSpec {
 public:
  SplitSpec(const LabelSourceOptions& options, const std::string& split,
            const std::string& spec_dir)
      : options_(options),
        files_(split == "train" ? options.train : options.val),
        split_(split) {
    const fs::path base =
        spec_dir.empty() ? fs::current_path() : fs::absolute(spec_dir);
    root_ = (base / options.root.value).lexically_normal();
    if (!root_.has_filename()) root_ = root_.parent_path();  // "a/b/" -> "a/b"
    if (!fs::is_directory(root_)) {
      specError(options.root.origin, "data.root", missing(root_, "folder"));
    }
  }

  const fs::path& root() const { return root_; }
  const LabelSourceOptions::Split& files() const { return files_; }
  std::string key(const std::string& name) const {
    return fmt::format("data.{}.{}", split_, name);
  }
  // data.<split>.<name> (`value`), which the format needs.
  const Located& require(const std::optional<Located>& value,
                         const std::string& name,
                         const std::string& what) const {
    if (!value || value->value.empty()) {
      specError(options_.format.origin, key(name),
                fmt::format("missing; data.format {} needs {}",
                            options_.format.value, what));
    }
    return *value;
  }

  fs::path file(const Located& value, const std::string& key) const {
    const fs::path path = resolve(value);
    if (!fs::is_regular_file(path)) {
      specError(value.origin, key, missing(path, "file"));
    }
    return path;
  }
  fs::path folder(const Located& value, const std::string& key) const {
    const fs::path path = resolve(value);
    if (!fs::is_directory(path)) {
      specError(value.origin, key, missing(path, "folder"));
    }
    return path;
  }
  fs::path resolve(const Located& value) const {
    return (root_ / value.value).lexically_normal();
  }

  static std::string missing(const fs::path& path, const char* kind) {
    return fs::exists(path)
               ? fmt::format("{} is not a {}", path.string(), kind)
               : fmt::format("{} {} does not exist", kind, path.string());
  }

 private:
  const LabelSourceOptions& options_;
  const LabelSourceOptions::Split& files_;
  std::string split_;
  fs::path root_;
};

// How one split's labels are read: the reader, the files it reads (they key
// the cache by content) and everything else its result depends on.
struct Source {
  std::string anchor;
  std::vector<std::string> files;
  std::string key;
  std::function<LabelTable()> read;
};

Source cocoSource(const SplitSpec& split, ClassList classes, bool drop) {
  CocoOptions options;
  options.annotations =
      split
          .file(split.require(split.files().annotations, "annotations",
                              "the instances JSON file"),
                split.key("annotations"))
          .string();
  options.images = split
                       .folder(split.require(split.files().images, "images",
                                             "the image folder"),
                               split.key("images"))
                       .string();
  options.classes = std::move(classes);
  options.drop_unannotated = drop;
  return {options.annotations,
          {options.annotations},
          fmt::format("images={}", options.images),
          [options] { return readCocoAnnotations(options); }};
}

Source vocSource(const SplitSpec& split, const LabelSourceOptions& data,
                 ClassList classes, bool drop) {
  if (const auto& annotations = split.files().annotations) {
    specError(annotations->origin, split.key("annotations"),
              "not read by data.format voc, which reads "
              "<data.root>/Annotations and the image set named by " +
                  split.key("split"));
  }
  VocOptions options;
  options.root = split.root().string();
  const std::string& root = data.root.origin;
  for (const char* folder : {"Annotations", "ImageSets/Main"}) {
    if (!fs::is_directory(split.root() / folder)) {
      specError(root, "data.root",
                fmt::format("{} is not a VOC folder: it has no {}",
                            options.root, folder));
    }
  }
  const Located& name = split.files().split;
  options.split = name.value;
  if (!fs::is_regular_file(vocSplitFile(options))) {
    specError(name.origin, split.key("split"),
              SplitSpec::missing(vocSplitFile(options), "file"));
  }
  if (const auto& images = split.files().images) {
    options.images = split.folder(*images, split.key("images")).string();
  } else if (!fs::is_directory(split.root() / "JPEGImages")) {
    specError(root, "data.root",
              fmt::format("{} has no JPEGImages folder; set {}", options.root,
                          split.key("images")));
  }
  options.classes = std::move(classes);
  options.drop_unannotated = drop;
  const std::string& difficult = data.difficult;
  options.difficult = difficult == "positive"   ? Difficult::kPositive
                      : difficult == "negative" ? Difficult::kNegative
                                                : Difficult::kIgnore;
  Source source;
  source.anchor = vocSplitFile(options);
  source.files = vocAnnotationFiles(options);
  source.files.insert(source.files.begin(), source.anchor);
  source.key =
      fmt::format("root={}\nsplit={}\nimages={}\ndifficult={}", options.root,
                  options.split, options.images, difficult);
  source.read = [options] { return readVocAnnotations(options); };
  return source;
}

Source listSource(const SplitSpec& split, ClassList classes, bool drop) {
  ListOptions options;
  options.list = split
                     .file(split.require(split.files().annotations,
                                         "annotations", "the label list file"),
                           split.key("annotations"))
                     .string();
  if (const auto& images = split.files().images) {
    options.images = split.folder(*images, split.key("images")).string();
  }
  options.classes = std::move(classes);
  options.drop_unannotated = drop;
  return {options.list,
          {options.list},
          fmt::format("images={}", options.images),
          [options] { return readListAnnotations(options); }};
}

// The data.classes list; empty when not written (the format's order).
ClassList classFile(const SplitSpec& paths, const LabelSourceOptions& options) {
  if (options.classes.value.empty()) return {};
  return ClassList::read(paths.file(options.classes, "data.classes").string());
}

}  // namespace

bool hasAnnotations(const std::string& format) {
  return format == "coco" || format == "voc" || format == "list";
}

std::optional<ClassList> declaredClasses(const LabelSourceOptions& options,
                                         const std::string& spec_dir) {
  if (!options.classes.value.empty()) {
    return classFile(SplitSpec(options, "train", spec_dir), options);
  }
  if (options.format.value == "voc") return vocClasses();
  return std::nullopt;
}

LabelTable loadLabelTable(const LabelSourceOptions& options,
                          const std::string& split, const std::string& spec_dir,
                          LabelLoadReport* report) {
  if (split != "train" && split != "val") {
    throw std::invalid_argument("loadLabelTable: split must be train or val");
  }
  const auto start = std::chrono::steady_clock::now();
  const std::clock_t cpu_start = std::clock();
  const std::string& format = options.format.value;
  if (!hasAnnotations(format)) {
    specError(options.format.origin, "data.format",
              fmt::format("'{}' has no annotation files (coco, voc and list "
                          "have)",
                          format));
  }
  const SplitSpec paths(options, split, spec_dir);
  const ClassList classes = classFile(paths, options);
  const bool drop = options.drop_unannotated;

  const std::string class_key =
      fmt::format("{}", fmt::join(classes.names(), "\t"));
  Source source = format == "coco"  ? cocoSource(paths, classes, drop)
                  : format == "voc" ? vocSource(paths, options, classes, drop)
                                    : listSource(paths, classes, drop);
  source.key = fmt::format("labels v{}\nformat={}\n{}\nclasses={}\ndrop={}",
                           kLabelsVersion, format, source.key, class_key, drop);

  LabelLoadReport done;
  done.annotations = source.anchor;
  LabelTable table;
  if (options.cache) {
    const std::string& dir = options.cache_dir;
    done.cache_file = LabelCache::location(
        source.anchor, source.key,
        dir.empty() ? "" : (paths.root() / dir).lexically_normal().string());
    LabelCache::Result cached =
        LabelCache(done.cache_file, source.key, source.files)
            .loadOrBuild(source.read);
    table = std::move(cached.table);
    done.cache_hit = cached.hit;
    done.cache_stored = cached.stored;
  } else {
    table = source.read();
  }
  if (table.numImages() == 0) {
    throw std::runtime_error(
        fmt::format("{}: no images in the {} split{}", source.anchor, split,
                    drop ? " once those without annotations are dropped" : ""));
  }
  for (const std::uint8_t state : table.states) {
    done.positives += state == LabelTable::kPositive;
    done.ignored += state == LabelTable::kIgnored;
  }
  done.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  done.cpu_seconds =
      static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  if (report != nullptr) *report = std::move(done);
  return table;
}

}  // namespace labrun::data
