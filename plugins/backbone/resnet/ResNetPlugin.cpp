// The `resnet` backbone plugin: torchvision's ResNet-18/34/50/101/152 with
// torchvision-compatible weights, frozen stages and frozen BatchNorm.
#include <torch/torch.h>

#include "ModuleWeights.h"
#include "ResNet.h"
#include "labrun/PluginDescriptor.h"

namespace {

const labrun::ParamSpec kParams[] = {
    {"depth", labrun::ParamType::kInt, "101",
     "ResNet depth: 18, 34 (512 output channels), 50, 101 or 152 (2048); "
     "torchvision's architectures and parameter names",
     "18|34|50|101|152"},
    {"weights", labrun::ParamType::kString, "''",
     "torchvision-compatible state dict (torch.save file, zip or legacy, "
     "e.g. resnet101-5d3b4d8f.pth), relative to the spec's folder; fc.* "
     "keys are ignored, any other mismatch is an error; '' = torchvision's "
     "random initialisation"},
    {"weights_prefix", labrun::ParamType::kString, "''",
     "take the entries under this key prefix (removed) from `weights`, for "
     "files holding a whole model, e.g. 'resnet_101.' for the released "
     "SSGRL checkpoints ('module.' is removed before)"},
    {"weights_layout", labrun::ParamType::kString, "torchvision",
     "names of the ResNet's entries in `weights` (after weights_prefix): "
     "torchvision (conv1.weight, layer1.0.conv1.weight, ...) or sequential "
     "(nn.Sequential(*list(resnet.children())[:-2]): 0.weight, "
     "4.0.conv1.weight, ..., as ML-GCN's checkpoints store `features.`)",
     "torchvision|sequential"},
    {"weights_ignore", labrun::ParamType::kStringList, "[]",
     "key prefixes of `weights` (after weights_prefix) left to other "
     "plugins, e.g. [classifier.] for CSRA's checkpoints, which hold the "
     "head's keys beside torchvision's; fc.* is always ignored"},
    {"freeze", labrun::ParamType::kStringList, "[]",
     "module prefixes whose parameters are not trained, e.g. [conv1, bn1, "
     "layer1, layer2] or layer3.0"},
    {"frozen_bn", labrun::ParamType::kBoolOrStringList, "false",
     "BatchNorms kept in eval mode (running statistics not updated, also in "
     "training), their weight and bias frozen: true (all), false (none) or "
     "module prefixes, e.g. [bn1, layer1, layer2, layer3] as the released "
     "SSGRL code trains"},
    {"extra_pool", labrun::ParamType::kInt, "0",
     "0: the layer4 map (output stride 32); 2: AvgPool2d(2, stride 2) after "
     "layer4, as the released SSGRL code does (output stride 64)",
     "0|2"},
};

std::shared_ptr<labrun::Backbone> make(const labrun::Params& params,
                                       const labrun::ModelContext& context) {
  auto model = std::make_shared<labrun::resnet::ResNet>(
      params.getInt("depth"), params.getInt("extra_pool"));
  if (auto weights = labrun::weights::readWeightsOption(params, context)) {
    if (params.getString("weights_layout") == "sequential") {
      weights->state = labrun::resnet::ResNet::fromSequentialNames(
          weights->state, weights->path);
    }
    model->loadStateDict(
        weights->state, weights->path,
        params.get<std::vector<std::string>>("weights_ignore"));
  }
  model->freeze(params.get<std::vector<std::string>>("freeze"));
  const labrun::ParamValue& frozen_bn = params.values().at("frozen_bn");
  if (const bool* all = std::get_if<bool>(&frozen_bn)) {
    if (*all) model->freezeBatchNorm();
  } else {
    model->freezeBatchNorm(std::get<std::vector<std::string>>(frozen_bn));
  }
  return model;
}

const labrun::PluginDescriptor kDescriptor = {
    /*api_version=*/labrun::kPluginApiVersion,
    /*kind=*/labrun::PluginKind::kBackbone,
    /*name=*/"resnet",
    /*version=*/"1.0.0",
    /*summary=*/
    "torchvision ResNet-18/34/50/101/152 up to layer4 "
    "(torchvision weights)",
    /*params=*/kParams,
    /*num_params=*/std::size(kParams),
    /*make_backbone=*/&make,
    /*make_head=*/nullptr,
    /*make_loss=*/nullptr,
    /*make_metric=*/nullptr,
};

}  // namespace

LABRUN_PLUGIN(kDescriptor)
