#include "train/LabelSourceBinding.h"

#include <optional>
#include <string>

namespace labrun::train {
namespace {

std::optional<spec::Located<std::string>> locatedIfWritten(
    const spec::Node& tree, const std::string& key) {
  const spec::Node* node = tree.findPath(key);
  if (node == nullptr) return std::nullopt;
  return spec::located(*node);
}

data::LabelSourceOptions::Split splitFiles(const spec::Node& tree,
                                           const std::string& split) {
  const std::string prefix = "data." + split + ".";
  return {locatedIfWritten(tree, prefix + "annotations"),
          locatedIfWritten(tree, prefix + "images"),
          spec::located(tree.at(prefix + "split"))};
}

}  // namespace

data::LabelSourceOptions bindLabelSource(const spec::Node& tree) {
  data::LabelSourceOptions options;
  options.format = spec::located(tree.at("data.format"));
  options.root = spec::located(tree.at("data.root"));
  options.classes = spec::located(tree.at("data.classes"));
  options.drop_unannotated = tree.at("data.drop_unannotated").asBool();
  options.difficult = tree.at("data.difficult").asString();
  options.cache = tree.at("data.cache").asBool();
  options.cache_dir = tree.at("data.cache_dir").asString();
  options.train = splitFiles(tree, "train");
  options.val = splitFiles(tree, "val");
  return options;
}

}  // namespace labrun::train
