// The paper's baseline head: global pooling + one linear classifier.
#include <torch/torch.h>

#include "ModuleWeights.h"
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

  // torchvision's ResNet names the classifier `fc`; the backbone's keys
  // (the resnet backbone's are torchvision's) stay as they are.
  labrun::ExportLayout exportLayout() const override {
    return {/*name=*/"torchvision", /*backbone_prefix=*/"",
            /*head_renames=*/{{"classifier.", "fc."}}, /*head_prefix=*/""};
  }

  // Takes fc.weight [K, C] and fc.bias [K] of `state` (torchvision's names,
  // as exported) into the classifier; other keys are left alone.
  void loadStateDict(const labrun::StateDict& state,
                     const std::string& source) {
    labrun::StateDict own;
    for (const auto& [key, tensor] : state) {
      if (key.rfind("fc.", 0) == 0) own["classifier." + key.substr(3)] = tensor;
    }
    if (own.empty()) {
      throw std::runtime_error("weights '" + source +
                               "' hold no fc.* entries (expected fc.weight and "
                               "fc.bias); its keys: " +
                               labrun::weights::describeKeyPrefixes(state));
    }
    labrun::weights::loadModuleWeights(*this, own, source, "the fc head",
                                       /*rules=*/{});
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
    {"weights", labrun::ParamType::kString, "''",
     "state dict holding the classifier as torchvision's ResNet names it "
     "(fc.weight [classes, channels], fc.bias [classes]; torch.save file, "
     "e.g. a labrun export of an fc run), relative to the spec's folder; "
     "other keys are ignored; '' = random initialisation"},
    {"weights_prefix", labrun::ParamType::kString, "''",
     "take the entries under this key prefix (removed) from `weights`"},
};

std::shared_ptr<labrun::Head> make(const labrun::Params& params,
                                   const labrun::ModelContext& context) {
  auto head = std::make_shared<FcHeadImpl>(
      context.in_channels, context.num_classes,
      params.getString("pool") == "max", params.getFloat("dropout"));
  labrun::weights::loadWeightsOption(*head, params, context);
  return head;
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
