// Sigmoid focal loss (Lin et al., "Focal Loss for Dense Object Detection",
// ICCV 2017), per label, as torchvision.ops.sigmoid_focal_loss computes it:
//   p = sigmoid(x), p_t = p if y = 1 else 1 - p
//   FL = alpha_t * (1 - p_t)^gamma * BCE(x, y),
//   alpha_t = alpha if y = 1 else 1 - alpha   (alpha < 0: alpha_t = 1)
// reduced over the labels that count (mask 1). An example of a labrun plugin
// built out of tree against the installed package (docs/PLUGINS.md).
#include <labrun/PluginDescriptor.h>
#include <torch/torch.h>

namespace {

struct FocalOptions {
  double alpha = 0.25;
  double gamma = 2.0;
  bool mean = true;
};

class FocalLossImpl : public labrun::Loss {
 public:
  explicit FocalLossImpl(const FocalOptions& options) : options_(options) {}

  // logits, targets, mask: [B, K] float32; returns a scalar.
  torch::Tensor forward(torch::Tensor logits, torch::Tensor targets,
                        torch::Tensor mask) override {
    namespace F = torch::nn::functional;
    const torch::Tensor p = torch::sigmoid(logits);
    // BCE from the logits (log-sigmoid inside), stable for large |x|.
    const torch::Tensor ce = F::binary_cross_entropy_with_logits(
        logits, targets,
        F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone));
    const torch::Tensor p_t = p * targets + (1 - p) * (1 - targets);
    torch::Tensor per_label = ce * torch::pow(1 - p_t, options_.gamma);
    if (options_.alpha >= 0) {
      per_label = per_label * (options_.alpha * targets +
                               (1 - options_.alpha) * (1 - targets));
    }
    const torch::Tensor total = (per_label * mask).sum();
    return options_.mean ? total / mask.sum().clamp_min(1.0) : total;
  }

 private:
  FocalOptions options_;
};

// The parameters a spec may set under `loss:`, with defaults and docs: the
// host validates the spec against them and `labrun plugins` lists them.
const labrun::ParamSpec kParams[] = {
    {"alpha", labrun::ParamType::kFloat, "0.25",
     "weight of the positive term in [0, 1] (negatives get 1 - alpha); "
     "a negative value turns the weighting off",
     /*choices=*/nullptr, /*range=*/"<= 1"},
    {"gamma", labrun::ParamType::kFloat, "2.0",
     "focusing exponent (0: plain BCE, weighted by alpha)",
     /*choices=*/nullptr, /*range=*/">= 0"},
    {"reduction", labrun::ParamType::kString, "mean",
     "mean over the labels that count, or their sum", "mean|sum"},
};

std::shared_ptr<labrun::Loss> make(const labrun::Params& params,
                                   const labrun::ModelContext&) {
  FocalOptions options;
  options.alpha = params.getFloat("alpha");
  options.gamma = params.getFloat("gamma");
  options.mean = params.getString("reduction") == "mean";
  return std::make_shared<FocalLossImpl>(options);
}

const labrun::PluginDescriptor kDescriptor = {
    /*api_version=*/labrun::kPluginApiVersion,
    /*kind=*/labrun::PluginKind::kLoss,
    /*name=*/"focal",
    /*version=*/"1.0.0",
    /*summary=*/"sigmoid focal loss (Lin et al. 2017) over non-ignored labels",
    /*params=*/kParams,
    /*num_params=*/std::size(kParams),
    /*make_backbone=*/nullptr,
    /*make_head=*/nullptr,
    /*make_loss=*/&make,
    /*make_metric=*/nullptr,
};

}  // namespace

LABRUN_PLUGIN(kDescriptor)
