// The `csra` head: class-specific residual attention (Zhu and Wu, "Residual
// Attention: A Simple but Effective Method for Multi-Label Recognition",
// ICCV 2021), transcribed from the released code (github.com/Kevinz-code/
// CSRA, pipeline/csra.py: CSRA.forward, MHA.temp_settings). Parameter names
// are the released classifier's under `classifier.` (multi_head.{i}.head.
// weight), so its checkpoints load with `weights_prefix: classifier.`.
#include <torch/torch.h>

#include <map>

#include "ModuleWeights.h"
#include "labrun/PluginDescriptor.h"

namespace {

using labrun::ParamType;

// csra.py's marker temperature: max pooling instead of a softmax.
constexpr double kMaxPooling = 99;

// One csra.py CSRA block: per-class scores of every location by a 1x1
// convolution whose class vectors are L2-normalised, then the mean score
// plus lambda times the attention-weighted score (softmax over locations at
// temperature T; max at T = 99).
class ResidualAttention : public torch::nn::Module {
 public:
  ResidualAttention(std::int64_t channels, std::int64_t classes,
                    double temperature, double lambda)
      : temperature_(temperature),
        lambda_(lambda),
        head_(torch::nn::Conv2dOptions(channels, classes, 1).bias(false)) {
    register_module("head", head_);
  }

  torch::Tensor forward(const torch::Tensor& features) {
    // weight [K, C, 1, 1]: norms over C, as [1, K, 1, 1].
    const torch::Tensor norms =
        head_->weight.norm(2, /*dim=*/{1}, /*keepdim=*/true).transpose(0, 1);
    const torch::Tensor scores =
        (head_->forward(features) / norms).flatten(/*start_dim=*/2);
    const torch::Tensor base = scores.mean(/*dim=*/{2});
    const torch::Tensor attention =
        temperature_ == kMaxPooling
            ? scores.amax(/*dim=*/{2})
            : (scores * torch::softmax(scores * temperature_, /*dim=*/2))
                  .sum(/*dim=*/{2});
    return base + lambda_ * attention;
  }

 private:
  double temperature_;
  double lambda_;
  torch::nn::Conv2d head_;
};

// csra.py MHA: the heads' logits summed.
class CsraHead : public labrun::Head {
 public:
  CsraHead(std::int64_t channels, std::int64_t classes,
           const std::vector<double>& temperatures, double lambda) {
    for (double temperature : temperatures) {
      multi_head_->push_back(std::make_shared<ResidualAttention>(
          channels, classes, temperature, lambda));
    }
    register_module("multi_head", multi_head_);
  }

  torch::Tensor forward(torch::Tensor features) override {
    torch::Tensor logits;
    for (const auto& head : *multi_head_) {
      const torch::Tensor one =
          head->as<ResidualAttention>()->forward(features);
      logits = logits.defined() ? logits + one : one;
    }
    return logits;
  }

  // multi_head.{i}.head.weight; other keys (the backbone's) are left alone.
  void loadStateDict(const labrun::StateDict& state,
                     const std::string& source) {
    labrun::weights::FitRules rules;
    rules.ignored = [](const std::string& key) {
      return key.compare(0, 11, "multi_head.") != 0;
    };
    labrun::weights::loadModuleWeights(*this, state, source, "the csra head",
                                       rules);
  }

 private:
  torch::nn::ModuleList multi_head_;
};

// csra.py MHA.temp_settings: the temperatures of 1, 2, 4, 6 or 8 heads.
const std::map<std::int64_t, std::vector<double>> kTemperatures = {
    {1, {1}},
    {2, {1, kMaxPooling}},
    {4, {1, 2, 4, kMaxPooling}},
    {6, {1, 2, 3, 4, 5, kMaxPooling}},
    {8, {1, 2, 3, 4, 5, 6, 7, kMaxPooling}},
};

const labrun::ParamSpec kParams[] = {
    {"num_heads", ParamType::kInt, "1",
     "attention heads, with the released temperatures: 1 (T = 1), 2 (1, "
     "max), 4 (1, 2, 4, max), 6 (1..5, max) or 8 (1..7, max)",
     "1|2|4|6|8"},
    {"lam", ParamType::kFloat, "0.1",
     "lambda: weight of the attention logit against the mean (released: "
     "0.1 on VOC, 0.5 on COCO)"},
    {"weights", ParamType::kString, "''",
     "state dict with the head's parameters under the released CSRA names "
     "(multi_head.{i}.head.weight after `weights_prefix`; torch.save file, "
     "zip or legacy), relative to the spec; other keys (the backbone's) are "
     "ignored; '' = random initialisation"},
    {"weights_prefix", ParamType::kString, "''",
     "take the entries under this key prefix (removed) from `weights`, e.g. "
     "'classifier.' for the released checkpoints"},
};

std::shared_ptr<labrun::Head> make(const labrun::Params& params,
                                   const labrun::ModelContext& context) {
  // num_heads is one of the declared choices, each of which has a row.
  auto head = std::make_shared<CsraHead>(
      context.in_channels, context.num_classes,
      kTemperatures.at(params.getInt("num_heads")), params.getFloat("lam"));
  labrun::weights::loadWeightsOption(*head, params, context);
  return head;
}

const labrun::PluginDescriptor kDescriptor = {
    /*api_version=*/labrun::kPluginApiVersion,
    /*kind=*/labrun::PluginKind::kHead,
    /*name=*/"csra",
    /*version=*/"1.0.0",
    /*summary=*/
    "CSRA: class-specific residual attention (mean + lambda x attention "
    "pooling of normalised class scores, multi-head temperatures)",
    /*params=*/kParams,
    /*num_params=*/std::size(kParams),
    /*make_backbone=*/nullptr,
    /*make_head=*/&make,
    /*make_loss=*/nullptr,
    /*make_metric=*/nullptr,
};

}  // namespace

LABRUN_PLUGIN(kDescriptor)
