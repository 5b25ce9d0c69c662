// The `ssgrl` head plugin: options, checks and the descriptor.
#include <torch/torch.h>

#include "GraphInputs.h"
#include "ModuleWeights.h"
#include "SsgrlHead.h"
#include "labrun/PluginDescriptor.h"

namespace {

using labrun::ParamType;

const std::vector<labrun::ParamSpec> kParams =
    labrun::graph::withGraphParamSpecs(
        /*threshold_default=*/"0.0", /*reweight_default=*/"0.0",
        /*reweight_doc=*/
        "> 0: ML-GCN re-weighting: off-diagonal rows sum to p, "
        "diagonal 1 - p",
        {
            {"time_steps", ParamType::kInt, "3",
             "GGNN propagation steps (0: no graph, the paper's ablation)",
             /*choices=*/nullptr, /*range=*/">= 0"},
            {"decoupling", ParamType::kBool, "true",
             "false: no semantic decoupling (the paper's ablation): every "
             "class "
             "node starts from the globally average-pooled feature"},
            {"attention_dim", ParamType::kInt, "1024",
             "low-rank bilinear attention size (d1 in the paper)",
             /*choices=*/nullptr, /*range=*/">= 1"},
            {"output_dim", ParamType::kInt, "2048",
             "size of the per-class output feature o_c",
             /*choices=*/nullptr, /*range=*/">= 1"},
            {"compat", ParamType::kString, "paper",
             "paper: GGNN as published; released: the released code's reset "
             "gate, "
             "which reuses the update gate's U weights (to evaluate its "
             "checkpoints)",
             "paper|released"},
            {"impl", ParamType::kString, "fast",
             "fast: folded, chunked attention and a GGNN with a hand-written "
             "backward; direct: as the released code computes it, through "
             "autograd "
             "(same function, far more time and memory)",
             "fast|direct"},
            {"weights", ParamType::kString, "''",
             "state dict with the head's parameters under the released SSGRL "
             "names "
             "(word_semantic.*, graph_net.*, fc_output.*, classifiers.*; "
             "torch.save "
             "file, zip or legacy, e.g. a released .pth.tar), relative to the "
             "spec; "
             "other keys (resnet_101.*) are ignored; '' = random "
             "initialisation"},
            {"weights_prefix", ParamType::kString, "''",
             "take the entries under this key prefix (removed) from `weights`"},
        });

std::shared_ptr<labrun::Head> make(const labrun::Params& params,
                                   const labrun::ModelContext& context) {
  labrun::ssgrl::SsgrlHeadOptions options;
  options.in_channels = context.in_channels;
  options.attention_dim = params.getInt("attention_dim");
  options.output_dim = params.getInt("output_dim");
  options.time_steps = params.getInt("time_steps");
  options.released_reset_gate = params.getString("compat") == "released";
  options.direct = params.getString("impl") == "direct";
  options.decoupling = params.getBool("decoupling");

  // Both inputs are checked before any weight is allocated.
  torch::Tensor adjacency = labrun::graph::buildAdjacency(
      labrun::graph::adjacencyOptions(params), context);
  torch::Tensor words = labrun::graph::embeddingsOption(params, context);
  auto head = std::make_shared<labrun::ssgrl::SsgrlHead>(
      options, std::move(words), std::move(adjacency));
  labrun::weights::loadWeightsOption(*head, params, context);
  return head;
}

const labrun::PluginDescriptor kDescriptor = {
    /*api_version=*/labrun::kPluginApiVersion,
    /*kind=*/labrun::PluginKind::kHead,
    /*name=*/"ssgrl",
    /*version=*/"1.0.0",
    /*summary=*/"SSGRL: word-guided attention per class + GGNN over classes",
    /*params=*/kParams.data(),
    /*num_params=*/kParams.size(),
    /*make_backbone=*/nullptr,
    /*make_head=*/&make,
    /*make_loss=*/nullptr,
    /*make_metric=*/nullptr,
};

}  // namespace

LABRUN_PLUGIN(kDescriptor)
