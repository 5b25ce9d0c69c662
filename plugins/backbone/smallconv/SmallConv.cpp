// A small convolutional backbone for smoke tests and quick experiments:
// stages of conv3x3 + BatchNorm + ReLU + 2x2 max-pool.
#include <torch/torch.h>

#include "labrun/PluginDescriptor.h"

namespace {

class SmallConvImpl : public labrun::Backbone {
 public:
  SmallConvImpl(const std::vector<std::int64_t>& channels, bool batch_norm) {
    if (channels.empty()) throw std::invalid_argument("channels: empty list");
    std::int64_t in = 3;
    for (std::size_t i = 0; i < channels.size(); ++i) {
      stages_->push_back(torch::nn::Conv2d(
          torch::nn::Conv2dOptions(in, channels[i], /*kernel_size=*/3)
              .padding(1)
              .bias(!batch_norm)));
      if (batch_norm) stages_->push_back(torch::nn::BatchNorm2d(channels[i]));
      stages_->push_back(
          torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true)));
      stages_->push_back(torch::nn::MaxPool2d(/*kernel_size=*/2));
      in = channels[i];
    }
    out_channels_ = in;
    register_module("stages", stages_);
  }

  torch::Tensor forward(torch::Tensor images) override {
    return stages_->forward(images);
  }
  std::int64_t outChannels() const override { return out_channels_; }

 private:
  torch::nn::Sequential stages_;
  std::int64_t out_channels_ = 0;
};

const labrun::ParamSpec kParams[] = {
    {"channels", labrun::ParamType::kIntList, "[16, 32, 64]",
     "output channels of each stage; each stage halves the resolution",
     /*choices=*/nullptr, /*range=*/">= 1"},
    {"batch_norm", labrun::ParamType::kBool, "true",
     "BatchNorm after every convolution"},
};

std::shared_ptr<labrun::Backbone> make(const labrun::Params& params,
                                       const labrun::ModelContext&) {
  return std::make_shared<SmallConvImpl>(
      params.get<std::vector<std::int64_t>>("channels"),
      params.getBool("batch_norm"));
}

const labrun::PluginDescriptor kDescriptor = {
    /*api_version=*/labrun::kPluginApiVersion,
    /*kind=*/labrun::PluginKind::kBackbone,
    /*name=*/"smallconv",
    /*version=*/"1.0.0",
    /*summary=*/"small conv net (conv3x3-BN-ReLU-maxpool stages)",
    /*params=*/kParams,
    /*num_params=*/std::size(kParams),
    /*make_backbone=*/&make,
    /*make_head=*/nullptr,
    /*make_loss=*/nullptr,
    /*make_metric=*/nullptr,
};

}  // namespace

LABRUN_PLUGIN(kDescriptor)
