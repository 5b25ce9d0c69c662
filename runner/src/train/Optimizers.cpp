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

void requireMatch(const std::string& origin, const std::string& prefix,
                  const Model& model) {
  for (const auto& item : model->named_parameters()) {
    if (underModule(item.key(), prefix)) return;
  }
  throw spec::SpecError(fmt::format(
      "{}: '{}' matches no parameter (names start with backbone. or head.; "
      "see `labrun show RUN` or the plugin's module names)",
      origin, prefix));
}

// The longest matching prefix decides, so "backbone=0.1" and
// "backbone.layer4=1" combine as users expect.
double factorFor(const std::string& name,
                 const std::vector<LrMultiplier>& multipliers) {
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

LrMultiplier parseLrMultiplier(const std::string& text,
                               const std::string& origin) {
  const auto equals = text.find('=');
  try {
    if (equals == std::string::npos) throw std::invalid_argument(text);
    std::size_t used = 0;
    const double factor = std::stod(text.substr(equals + 1), &used);
    if (used != text.size() - equals - 1 || factor < 0) {
      throw std::invalid_argument(text);
    }
    return {text.substr(0, equals), factor, origin};
  } catch (const std::exception&) {
    throw spec::SpecError(fmt::format(
        "{}: optim.lr_mult: expected PREFIX=FACTOR (e.g. backbone=0.1), "
        "found '{}'",
        origin, text));
  }
}

std::unique_ptr<torch::optim::Optimizer> makeOptimizer(
    const OptimizerOptions& options, Model& model) {
  for (const auto& prefix : options.freeze) {
    requireMatch(prefix.origin, prefix.value, model);
    for (auto& param : model->named_parameters()) {
      if (underModule(param.key(), prefix.value)) {
        param.value().set_requires_grad(false);
      }
    }
  }
  for (const LrMultiplier& multiplier : options.lr_mult) {
    requireMatch(multiplier.origin, multiplier.prefix, model);
  }
  std::map<double, std::vector<torch::Tensor>> by_factor;
  for (const auto& param : model->named_parameters()) {
    if (!param.value().requires_grad()) continue;
    by_factor[factorFor(param.key(), options.lr_mult)].push_back(param.value());
  }
  if (by_factor.empty()) {
    throw spec::SpecError(
        fmt::format("{}: every model parameter is frozen; nothing to train",
                    options.origin));
  }

  const double lr = options.lr;
  const double weight_decay = options.weight_decay;
  if (options.name == "sgd") {
    return withGroups<torch::optim::SGD>(by_factor,
                                         torch::optim::SGDOptions(lr)
                                             .momentum(options.momentum)
                                             .nesterov(options.nesterov)
                                             .weight_decay(weight_decay));
  }
  if (options.name == "adamw") {
    return withGroups<FusedAdamW>(
        by_factor, torch::optim::AdamWOptions(lr).weight_decay(weight_decay));
  }
  return withGroups<FusedAdam>(
      by_factor, torch::optim::AdamOptions(lr).weight_decay(weight_decay));
}

}  // namespace labrun::train
