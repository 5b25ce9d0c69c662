#include "train/Optimizers.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <map>

#include "spec/SpecError.h"
#include "train/FusedAdam.h"
#include "util/Strings.h"

namespace labrun::train {
namespace {

using util::underModule;

void requireMatch(const spec::Node& node, const std::string& prefix,
                  const Model& model) {
  for (const auto& item : model->named_parameters()) {
    if (underModule(item.key(), prefix)) return;
  }
  throw spec::SpecError(fmt::format(
      "{}: '{}' matches no parameter (names start with backbone. or head.; "
      "see `labrun show RUN` or the plugin's module names)",
      node.origin().describe(), prefix));
}

struct Multiplier {
  std::string prefix;
  double factor;
};

std::vector<Multiplier> readMultipliers(const spec::Node& list,
                                        const Model& model) {
  std::vector<Multiplier> multipliers;
  for (const spec::Node& item : list.items()) {
    const std::string& text = item.asString();
    const auto equals = text.find('=');
    double factor = 0;
    try {
      if (equals == std::string::npos) throw std::invalid_argument(text);
      std::size_t used = 0;
      factor = std::stod(text.substr(equals + 1), &used);
      if (used != text.size() - equals - 1 || factor < 0) {
        throw std::invalid_argument(text);
      }
    } catch (const std::exception&) {
      throw spec::SpecError(fmt::format(
          "{}: optim.lr_mult: expected PREFIX=FACTOR (e.g. backbone=0.1), "
          "found '{}'",
          item.origin().describe(), text));
    }
    multipliers.push_back({text.substr(0, equals), factor});
    requireMatch(item, multipliers.back().prefix, model);
  }
  return multipliers;
}

// The longest matching prefix decides, so "backbone=0.1" and
// "backbone.layer4=1" combine as users expect.
double factorFor(const std::string& name,
                 const std::vector<Multiplier>& multipliers) {
  double factor = 1.0;
  std::size_t longest = 0;
  for (const auto& m : multipliers) {
    if (underModule(name, m.prefix) && m.prefix.size() >= longest) {
      factor = m.factor;
      longest = m.prefix.size();
    }
  }
  return factor;
}

// One parameter group per learning-rate factor, each with `base` options at
// lr * factor.
template <typename Optimizer, typename Options>
std::unique_ptr<torch::optim::Optimizer> withGroups(
    const std::map<double, std::vector<torch::Tensor>>& by_factor,
    const Options& base) {
  std::vector<torch::optim::OptimizerParamGroup> groups;
  for (const auto& [factor, params] : by_factor) {
    auto options = std::make_unique<Options>(base);
    options->lr(base.lr() * factor);
    groups.emplace_back(params, std::move(options));
  }
  return std::make_unique<Optimizer>(groups, base);
}

}  // namespace

std::unique_ptr<torch::optim::Optimizer> makeOptimizer(const spec::Node& tree,
                                                       Model& model) {
  for (const spec::Node& item : tree.at("optim.freeze").items()) {
    requireMatch(item, item.asString(), model);
    for (auto& param : model->named_parameters()) {
      if (underModule(param.key(), item.asString())) {
        param.value().set_requires_grad(false);
      }
    }
  }
  const auto multipliers = readMultipliers(tree.at("optim.lr_mult"), model);
  std::map<double, std::vector<torch::Tensor>> by_factor;
  for (const auto& param : model->named_parameters()) {
    if (!param.value().requires_grad()) continue;
    by_factor[factorFor(param.key(), multipliers)].push_back(param.value());
  }
  if (by_factor.empty()) {
    throw spec::SpecError(
        fmt::format("{}: every model parameter is frozen; nothing to train",
                    tree.at("optim").origin().describe()));
  }

  const std::string name = tree.at("optim.name").asString();
  const double lr = tree.at("optim.lr").asDouble();
  const double weight_decay = tree.at("optim.weight_decay").asDouble();
  if (name == "sgd") {
    return withGroups<torch::optim::SGD>(
        by_factor, torch::optim::SGDOptions(lr)
                       .momentum(tree.at("optim.momentum").asDouble())
                       .nesterov(tree.at("optim.nesterov").asBool())
                       .weight_decay(weight_decay));
  }
  if (name == "adamw") {
    return withGroups<FusedAdamW>(
        by_factor, torch::optim::AdamWOptions(lr).weight_decay(weight_decay));
  }
  return withGroups<FusedAdam>(
      by_factor, torch::optim::AdamOptions(lr).weight_decay(weight_decay));
}

}  // namespace labrun::train
