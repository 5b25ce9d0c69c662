#include "SsgrlHead.h"

#include <torch/torch.h>

#include <set>

#include "ModuleWeights.h"

namespace labrun::ssgrl {

SsgrlHead::SsgrlHead(const SsgrlHeadOptions& options, torch::Tensor words,
                     torch::Tensor adjacency)
    : direct_(options.direct),
      num_classes_(words.size(0)),
      graph_net_(options.in_channels, options.time_steps, std::move(adjacency),
                 options.released_reset_gate),
      fc_output_(2 * options.in_channels, options.output_dim),
      classifiers_(words.size(0), options.output_dim) {
  word_features_ = register_buffer("word_features", std::move(words));
  if (options.decoupling) {
    word_semantic_ = register_module(
        "word_semantic",
        SemanticDecoupling(options.in_channels, word_features_.size(1),
                           options.attention_dim));
  }
  register_module("graph_net", graph_net_);
  register_module("fc_output", fc_output_);
  register_module("classifiers", classifiers_);
}

torch::Tensor SsgrlHead::initialNodes(const torch::Tensor& features) {
  if (word_semantic_.is_empty()) {
    return features.mean(/*dim=*/{2, 3})
        .unsqueeze(1)
        .expand({-1, num_classes_, -1})
        .contiguous();
  }
  return direct_ ? word_semantic_->forwardDirect(features, word_features_)
                 : word_semantic_->forward(features, word_features_);
}

torch::Tensor SsgrlHead::forward(torch::Tensor features) {
  const torch::Tensor nodes = initialNodes(features);
  const torch::Tensor final_nodes =
      direct_ ? graph_net_->forwardDirect(nodes) : graph_net_->forward(nodes);
  const torch::Tensor output = torch::tanh(
      fc_output_->forward(torch::cat({final_nodes, nodes}, /*dim=*/2)));
  return classifiers_->forward(output);
}

void SsgrlHead::loadStateDict(const StateDict& state,
                              const std::string& source) {
  static const std::set<std::string> kModules = {"word_semantic", "graph_net",
                                                 "fc_output", "classifiers"};
  static const std::set<std::string> kBuffers = {"word_features",
                                                 "graph_net.in_matrix"};
  weights::FitRules rules;
  rules.ignored = [](const std::string& key) {
    return kModules.count(key.substr(0, key.find('.'))) == 0 ||
           kBuffers.count(key) > 0;
  };
  rules.optional = [](const std::string& key) {
    return kBuffers.count(key) > 0;
  };
  weights::loadModuleWeights(*this, state, source, "the ssgrl head", rules);
}

}  // namespace labrun::ssgrl
