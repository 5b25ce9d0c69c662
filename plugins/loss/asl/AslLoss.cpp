// Asymmetric loss (Ridnik et al., "Asymmetric Loss For Multi-Label
// Classification", ICCV 2021), with the released code's clipping and eps:
//   p = sigmoid(logit), p_m = max(p - clip, 0)
//   positive: -(1 - p)^gamma_pos * log(max(p, eps))
//   negative: -p_m^gamma_neg * log(max(1 - p_m, eps))
// Ignored labels (mask 0) contribute nothing.
#include <torch/torch.h>

#include "labrun/PluginDescriptor.h"

namespace {

struct AslOptions {
  double gamma_neg = 4;
  double gamma_pos = 0;
  double clip = 0.05;
  double eps = 1e-8;
  bool mean = false;
  bool focusing_grad = true;
};

class AslLossImpl : public labrun::Loss {
 public:
  explicit AslLossImpl(const AslOptions& options) : options_(options) {}

  torch::Tensor forward(torch::Tensor logits, torch::Tensor targets,
                        torch::Tensor mask) override {
    const torch::Tensor p = torch::sigmoid(logits);
    // Shifting the negatives' probability discards very easy negatives.
    const torch::Tensor p_shifted =
        options_.clip > 0 ? (p - options_.clip).clamp_min(0) : p;
    torch::Tensor weight_pos = torch::pow(1 - p, options_.gamma_pos);
    torch::Tensor weight_neg = torch::pow(p_shifted, options_.gamma_neg);
    if (!options_.focusing_grad) {
      weight_pos = weight_pos.detach();
      weight_neg = weight_neg.detach();
    }
    const torch::Tensor per_label =
        -(targets * weight_pos * torch::log(p.clamp_min(options_.eps)) +
          (1 - targets) * weight_neg *
              torch::log((1 - p_shifted).clamp_min(options_.eps)));
    const torch::Tensor total = (per_label * mask).sum();
    return options_.mean ? total / mask.sum().clamp_min(1.0) : total;
  }

 private:
  AslOptions options_;
};

const labrun::ParamSpec kParams[] = {
    {"gamma_neg", labrun::ParamType::kFloat, "4.0",
     "focusing exponent of negative labels", /*choices=*/nullptr,
     /*range=*/">= 0"},
    {"gamma_pos", labrun::ParamType::kFloat, "0.0",
     "focusing exponent of positive labels (0 or 1 in the paper)",
     /*choices=*/nullptr, /*range=*/">= 0"},
    {"clip", labrun::ParamType::kFloat, "0.05",
     "probability margin m: negatives count with p - m (0: off)",
     /*choices=*/nullptr, /*range=*/"[0, 1)"},
    {"eps", labrun::ParamType::kFloat, "1e-8",
     "lower clamp of the probabilities inside the logs", /*choices=*/nullptr,
     /*range=*/"(0, 1)"},
    {"reduction", labrun::ParamType::kString, "sum",
     "sum over labels that count (as released) or their mean", "sum|mean"},
    {"focusing_grad", labrun::ParamType::kBool, "true",
     "differentiate through the focusing weights (false: treat them as "
     "constants, the released code's disable_torch_grad_focal_loss)"},
};

std::shared_ptr<labrun::Loss> make(const labrun::Params& params,
                                   const labrun::ModelContext&) {
  AslOptions options;
  options.gamma_neg = params.getFloat("gamma_neg");
  options.gamma_pos = params.getFloat("gamma_pos");
  options.clip = params.getFloat("clip");
  options.eps = params.getFloat("eps");
  options.mean = params.getString("reduction") == "mean";
  options.focusing_grad = params.getBool("focusing_grad");
  return std::make_shared<AslLossImpl>(options);
}

const labrun::PluginDescriptor kDescriptor = {
    /*api_version=*/labrun::kPluginApiVersion,
    /*kind=*/labrun::PluginKind::kLoss,
    /*name=*/"asl",
    /*version=*/"1.0.0",
    /*summary=*/
    "asymmetric loss (focusing + negative clipping) over "
    "non-ignored labels",
    /*params=*/kParams,
    /*num_params=*/std::size(kParams),
    /*make_backbone=*/nullptr,
    /*make_head=*/nullptr,
    /*make_loss=*/&make,
    /*make_metric=*/nullptr,
};

}  // namespace

LABRUN_PLUGIN(kDescriptor)
