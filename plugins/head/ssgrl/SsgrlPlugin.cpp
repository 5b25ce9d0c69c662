// The `ssgrl` head plugin: options, checks and the descriptor.
#include <torch/torch.h>

#include "GraphInputs.h"
#include "ModuleWeights.h"
#include "ParamChecks.h"
#include "SsgrlHead.h"
#include "labrun/PluginDescriptor.h"

namespace {

using labrun::ParamType;

const labrun::ParamSpec kParams[] = {
    {"embeddings", ParamType::kString, nullptr,
     "class word embeddings: a .npy path ([K, E]), a GloVe .txt path "
     "(multi-word names averaged), 'random' or 'onehot'; paths relative to "
     "the spec"},
    {"embedding_dim", ParamType::kInt, "300", "size of 'random' embeddings"},
    {"embedding_seed", ParamType::kInt, "0", "seed of 'random' embeddings"},
    {"adjacency", ParamType::kString, "labels",
     "label graph: 'labels' (P(j|i) from the training labels) or a .npy "
     "path ([K, K] probabilities, or co-occurrence counts with "
     "class_counts)"},
    {"class_counts", ParamType::kString, "''",
     ".npy path of per-class image counts [K]; makes `adjacency` counts"},
    {"adjacency_threshold", ParamType::kFloat, "0.0",
     "> 0: binarise the graph at this probability (ML-GCN's tau)"},
    {"adjacency_reweight", ParamType::kFloat, "0.0",
     "> 0: ML-GCN re-weighting: off-diagonal rows sum to p, diagonal 1 - p"},
    {"time_steps", ParamType::kInt, "3",
     "GGNN propagation steps (0: no graph, the paper's ablation)"},
    {"decoupling", ParamType::kBool, "true",
     "false: no semantic decoupling (the paper's ablation): every class "
     "node starts from the globally average-pooled feature"},
    {"attention_dim", ParamType::kInt, "1024",
     "low-rank bilinear attention size (d1 in the paper)"},
    {"output_dim", ParamType::kInt, "2048",
     "size of the per-class output feature o_c"},
    {"compat", ParamType::kString, "paper",
     "paper: GGNN as published; released: the released code's reset gate, "
     "which reuses the update gate's U weights (to evaluate its checkpoints)",
     "paper|released"},
    {"impl", ParamType::kString, "fast",
     "fast: folded, chunked attention and a GGNN with a hand-written "
     "backward; direct: as the released code computes it, through autograd "
     "(same function, far more time and memory)",
     "fast|direct"},
    {"weights", ParamType::kString, "''",
     "state dict with the head's parameters under the released SSGRL names "
     "(word_semantic.*, graph_net.*, fc_output.*, classifiers.*; torch.save "
     "file, zip or legacy, e.g. a released .pth.tar), relative to the spec; "
     "other keys (resnet_101.*) are ignored; '' = random initialisation"},
    {"weights_prefix", ParamType::kString, "''",
     "take the entries under this key prefix (removed) from `weights`"},
};

std::shared_ptr<labrun::Head> make(const labrun::Params& params,
                                   const labrun::ModelContext& context) {
  labrun::ssgrl::SsgrlHeadOptions options;
  options.in_channels = context.in_channels;
  options.attention_dim =
      labrun::params::intAtLeast(params, "attention_dim", 1);
  options.output_dim = labrun::params::intAtLeast(params, "output_dim", 1);
  options.time_steps = labrun::params::intAtLeast(params, "time_steps", 0);
  options.released_reset_gate = params.getString("compat") == "released";
  options.direct = params.getString("impl") == "direct";
  options.decoupling = params.getBool("decoupling");

  labrun::ssgrl::AdjacencyOptions graph;
  graph.source = params.getString("adjacency");
  graph.class_counts = params.getString("class_counts");
  graph.threshold = params.getFloat("adjacency_threshold");
  graph.reweight = params.getFloat("adjacency_reweight");
  // Both inputs are checked before any weight is allocated.
  torch::Tensor adjacency = labrun::ssgrl::buildAdjacency(graph, context);
  torch::Tensor words = labrun::ssgrl::loadEmbeddings(
      params.getString("embeddings"), params.getInt("embedding_dim"),
      static_cast<std::uint64_t>(params.getInt("embedding_seed")), context);
  auto head = std::make_shared<labrun::ssgrl::SsgrlHead>(
      options, std::move(words), std::move(adjacency));
  if (const auto weights =
          labrun::weights::readWeightsOption(params, context)) {
    head->loadStateDict(weights->state, weights->path);
  }
  return head;
}

const labrun::PluginDescriptor kDescriptor = {
    /*api_version=*/labrun::kPluginApiVersion,
    /*kind=*/labrun::PluginKind::kHead,
    /*name=*/"ssgrl",
    /*version=*/"1.0.0",
    /*summary=*/"SSGRL: word-guided attention per class + GGNN over classes",
    /*params=*/kParams,
    /*num_params=*/std::size(kParams),
    /*make_backbone=*/nullptr,
    /*make_head=*/&make,
    /*make_loss=*/nullptr,
    /*make_metric=*/nullptr,
};

}  // namespace

LABRUN_PLUGIN(kDescriptor)
