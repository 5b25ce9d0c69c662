// The paper's baseline head: global pooling + one linear classifier.
#include <torch/torch.h>

#include "labrun/PluginDescriptor.h"

namespace {

class FcHeadImpl : public labrun::Head {
 public:
  FcHeadImpl(std::int64_t in_channels, std::int64_t num_classes, bool max_pool,
             double dropout)
      : max_pool_(max_pool),
        dropout_(torch::nn::DropoutOptions(dropout)),
        classifier_(in_channels, num_classes) {
    register_module("dropout", dropout_);
    register_module("classifier", classifier_);
  }

  torch::Tensor forward(torch::Tensor features) override {
    torch::Tensor pooled =
        max_pool_ ? features.amax({2, 3}) : features.mean({2, 3});
    return classifier_->forward(dropout_->forward(pooled));
  }

 private:
  bool max_pool_;
  torch::nn::Dropout dropout_;
  torch::nn::Linear classifier_;
};

const labrun::ParamSpec kParams[] = {
    {"pool", labrun::ParamType::kString, "avg",
     "global pooling of the feature map before the classifier", "avg|max"},
    {"dropout", labrun::ParamType::kFloat, "0.0",
     "dropout probability before the classifier", /*choices=*/nullptr,
     /*range=*/"[0, 1)"},
};

std::shared_ptr<labrun::Head> make(const labrun::Params& params,
                                   const labrun::ModelContext& context) {
  return std::make_shared<FcHeadImpl>(context.in_channels, context.num_classes,
                                      params.getString("pool") == "max",
                                      params.getFloat("dropout"));
}

const labrun::PluginDescriptor kDescriptor = {
    /*api_version=*/labrun::kPluginApiVersion,
    /*kind=*/labrun::PluginKind::kHead,
    /*name=*/"fc",
    /*version=*/"1.0.0",
    /*summary=*/"global pooling + Linear(channels -> classes) (baseline)",
    /*params=*/kParams,
    /*num_params=*/std::size(kParams),
    /*make_backbone=*/nullptr,
    /*make_head=*/&make,
    /*make_loss=*/nullptr,
    /*make_metric=*/nullptr,
};

}  // namespace

LABRUN_PLUGIN(kDescriptor)
