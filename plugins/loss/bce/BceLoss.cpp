// Binary cross-entropy with logits, averaged over the labels that count.
#include <torch/torch.h>

#include "labrun/PluginDescriptor.h"

namespace {

class BceLossImpl : public labrun::Loss {
 public:
  explicit BceLossImpl(double pos_weight) : pos_weight_(pos_weight) {}

  torch::Tensor forward(torch::Tensor logits, torch::Tensor targets,
                        torch::Tensor mask) override {
    auto options =
        torch::nn::functional::BinaryCrossEntropyWithLogitsFuncOptions()
            .reduction(torch::kNone);
    if (pos_weight_ != 1.0) {
      options.pos_weight(
          torch::full({logits.size(1)}, pos_weight_, logits.options()));
    }
    torch::Tensor per_label =
        torch::nn::functional::binary_cross_entropy_with_logits(logits, targets,
                                                                options);
    // Ignored labels (mask 0) contribute neither loss nor count.
    return (per_label * mask).sum() / mask.sum().clamp_min(1.0);
  }

 private:
  double pos_weight_;
};

const labrun::ParamSpec kParams[] = {
    {"pos_weight", labrun::ParamType::kFloat, "1.0",
     "weight of the positive term of every class (>1 favours recall)",
     /*choices=*/nullptr, /*range=*/"> 0"},
};

std::shared_ptr<labrun::Loss> make(const labrun::Params& params,
                                   const labrun::ModelContext&) {
  return std::make_shared<BceLossImpl>(params.getFloat("pos_weight"));
}

const labrun::PluginDescriptor kDescriptor = {
    /*api_version=*/labrun::kPluginApiVersion,
    /*kind=*/labrun::PluginKind::kLoss,
    /*name=*/"bce",
    /*version=*/"1.0.0",
    /*summary=*/"binary cross-entropy with logits over non-ignored labels",
    /*params=*/kParams,
    /*num_params=*/std::size(kParams),
    /*make_backbone=*/nullptr,
    /*make_head=*/nullptr,
    /*make_loss=*/&make,
    /*make_metric=*/nullptr,
};

}  // namespace

LABRUN_PLUGIN(kDescriptor)
