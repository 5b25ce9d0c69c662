#include "Query2LabelHead.h"

#include <torch/torch.h>

#include <set>

#include "ModuleWeights.h"
#include "SinePositionEmbedding.h"

namespace labrun::q2l {

Query2LabelHead::Query2LabelHead(const Query2LabelOptions& options)
    : transformer_(options.transformer),
      query_embed_(options.num_classes, options.transformer.hidden_dim),
      fc_(options.num_classes, options.transformer.hidden_dim) {
  if (options.input_proj) {
    input_proj_ = register_module(
        "input_proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(
                          options.in_channels, options.transformer.hidden_dim,
                          /*kernel_size=*/1)));
  }
  register_module("transformer", transformer_);
  register_module("query_embed", query_embed_);
  register_module("fc", fc_);
}

torch::Tensor Query2LabelHead::forward(torch::Tensor features) {
  const torch::Tensor src =
      input_proj_.is_empty() ? features : input_proj_->forward(features);
  const torch::Tensor pos = sinePositionEmbedding(src.size(2), src.size(3),
                                                  src.size(1), src.options());
  return fc_->forward(transformer_->forward(src, query_embed_->weight, pos));
}

void Query2LabelHead::loadStateDict(const StateDict& state,
                                    const std::string& source) {
  static const std::set<std::string> kModules = {"input_proj", "transformer",
                                                 "query_embed", "fc"};
  weights::FitRules rules;
  rules.ignored = [](const std::string& key) {
    return kModules.count(key.substr(0, key.find('.'))) == 0;
  };
  weights::loadModuleWeights(*this, state, source, "the q2l head", rules);
}

}  // namespace labrun::q2l
