#include "data/LabelSource.h"

#include <fmt/format.h>

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

[[noreturn]] void specError(const spec::Node& node, const std::string& key,
                            const std::string& what) {
  throw spec::SpecError(
      fmt::format("{}: {}: {}", node.origin().describe(), key, what));
}

// The data.* keys of one split, with paths resolved and checked.
class SplitSpec {
 public:
  SplitSpec(const spec::Node& tree, const std::string& split,
            const std::string& spec_dir)
      : tree_(tree), split_(split) {
    const spec::Node& root = tree.at("data.root");
    const fs::path base =
        spec_dir.empty() ? fs::current_path() : fs::absolute(spec_dir);
    root_ = (base / root.asString()).lexically_normal();
    if (!root_.has_filename()) root_ = root_.parent_path();  // "a/b/" -> "a/b"
    if (!fs::is_directory(root_)) {
      specError(root, "data.root", missing(root_, "folder"));
    }
  }

  const fs::path& root() const { return root_; }
  std::string key(const std::string& name) const {
    return fmt::format("data.{}.{}", split_, name);
  }
  const spec::Node* find(const std::string& name) const {
    return tree_.findPath(key(name));
  }
  // data.<split>.<name>, which `format` needs.
  const spec::Node& require(const std::string& name,
                            const std::string& what) const {
    const spec::Node* node = find(name);
    if (node == nullptr || node->asString().empty()) {
      const spec::Node& format = tree_.at("data.format");
      specError(
          format, key(name),
          fmt::format("missing; data.format {} needs {}", format.text(), what));
    }
    return *node;
  }

  fs::path file(const spec::Node& node, const std::string& key) const {
    const fs::path path = resolve(node);
    if (!fs::is_regular_file(path)) specError(node, key, missing(path, "file"));
    return path;
  }
  fs::path folder(const spec::Node& node, const std::string& key) const {
    const fs::path path = resolve(node);
    if (!fs::is_directory(path)) {
      specError(node, key, missing(path, "folder"));
    }
    return path;
  }
  fs::path resolve(const spec::Node& node) const {
    return (root_ / node.asString()).lexically_normal();
  }

  static std::string missing(const fs::path& path, const char* kind) {
    return fs::exists(path)
               ? fmt::format("{} is not a {}", path.string(), kind)
               : fmt::format("{} {} does not exist", kind, path.string());
  }

 private:
  const spec::Node& tree_;
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
          .file(split.require("annotations", "the instances JSON file"),
                split.key("annotations"))
          .string();
  options.images = split
                       .folder(split.require("images", "the image folder"),
                               split.key("images"))
                       .string();
  options.classes = std::move(classes);
  options.drop_unannotated = drop;
  return {options.annotations,
          {options.annotations},
          fmt::format("images={}", options.images),
          [options] { return readCocoAnnotations(options); }};
}

Source vocSource(const SplitSpec& split, const spec::Node& tree,
                 ClassList classes, bool drop) {
  if (const spec::Node* annotations = split.find("annotations")) {
    specError(*annotations, split.key("annotations"),
              "not read by data.format voc, which reads "
              "<data.root>/Annotations and the image set named by " +
                  split.key("split"));
  }
  VocOptions options;
  options.root = split.root().string();
  const spec::Node& root = tree.at("data.root");
  for (const char* folder : {"Annotations", "ImageSets/Main"}) {
    if (!fs::is_directory(split.root() / folder)) {
      specError(root, "data.root",
                fmt::format("{} is not a VOC folder: it has no {}",
                            options.root, folder));
    }
  }
  const spec::Node& name = tree.at(split.key("split"));
  options.split = name.asString();
  if (!fs::is_regular_file(vocSplitFile(options))) {
    specError(name, split.key("split"),
              SplitSpec::missing(vocSplitFile(options), "file"));
  }
  if (const spec::Node* images = split.find("images")) {
    options.images = split.folder(*images, split.key("images")).string();
  } else if (!fs::is_directory(split.root() / "JPEGImages")) {
    specError(root, "data.root",
              fmt::format("{} has no JPEGImages folder; set {}", options.root,
                          split.key("images")));
  }
  options.classes = std::move(classes);
  options.drop_unannotated = drop;
  const std::string difficult = tree.at("data.difficult").asString();
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
                     .file(split.require("annotations", "the label list file"),
                           split.key("annotations"))
                     .string();
  if (const spec::Node* images = split.find("images")) {
    options.images = split.folder(*images, split.key("images")).string();
  }
  options.classes = std::move(classes);
  options.drop_unannotated = drop;
  return {options.list,
          {options.list},
          fmt::format("images={}", options.images),
          [options] { return readListAnnotations(options); }};
}

}  // namespace

bool hasAnnotations(const spec::Node& tree) {
  const std::string format = tree.at("data.format").asString();
  return format == "coco" || format == "voc" || format == "list";
}

LabelSet loadLabels(const spec::Node& tree, const std::string& split,
                    const std::string& spec_dir, LabelLoadReport* report) {
  if (split != "train" && split != "val") {
    throw std::invalid_argument("loadLabels: split must be train or val");
  }
  const auto start = std::chrono::steady_clock::now();
  const std::clock_t cpu_start = std::clock();
  const spec::Node& format_node = tree.at("data.format");
  const std::string format = format_node.asString();
  if (!hasAnnotations(tree)) {
    specError(format_node, "data.format",
              fmt::format("'{}' has no annotation files (coco, voc and list "
                          "have)",
                          format));
  }
  const SplitSpec paths(tree, split, spec_dir);
  ClassList classes;
  const spec::Node& classes_node = tree.at("data.classes");
  if (!classes_node.asString().empty()) {
    classes =
        ClassList::read(paths.file(classes_node, "data.classes").string());
  }
  const bool drop = tree.at("data.drop_unannotated").asBool();

  const std::string class_key =
      fmt::format("{}", fmt::join(classes.names(), "\t"));
  Source source = format == "coco"  ? cocoSource(paths, classes, drop)
                  : format == "voc" ? vocSource(paths, tree, classes, drop)
                                    : listSource(paths, classes, drop);
  source.key = fmt::format("labels v{}\nformat={}\n{}\nclasses={}\ndrop={}",
                           kLabelsVersion, format, source.key, class_key, drop);

  LabelLoadReport done;
  done.annotations = source.anchor;
  LabelTable table;
  if (tree.at("data.cache").asBool()) {
    const std::string dir = tree.at("data.cache_dir").asString();
    done.cache_file = LabelCache::location(
        source.anchor, source.key,
        dir.empty() ? "" : (paths.root() / dir).lexically_normal().string());
    LabelCache::Result cached =
        LabelCache(done.cache_file, source.key, source.files)
            .loadOrBuild(source.read);
    table = std::move(cached.table);
    done.cache_hit = cached.hit;
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
  LabelSet labels = std::move(table).toLabelSet();
  done.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  done.cpu_seconds =
      static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  if (report != nullptr) *report = std::move(done);
  return labels;
}

}  // namespace labrun::data
