// The `mlgcn` head: ML-GCN (Chen et al., "Multi-Label Image Recognition with
// Graph Convolutional Networks", CVPR 2019). A two-layer GCN over the
// classes' word embeddings, on the thresholded, re-weighted label graph,
// produces one classifier per class, applied to the globally max-pooled
// feature. Transcribed from the released code (github.com/Megvii-Nanjing/
// ML-GCN, models.py: GraphConvolution, GCNResnet.forward; util.py: gen_A,
// gen_adj); parameter names are the released model's (gc1.weight,
// gc2.weight, A), so its checkpoints' head entries load as they are.
#include <torch/torch.h>

#include "GraphInputs.h"
#include "ModuleWeights.h"
#include "labrun/PluginDescriptor.h"

namespace {

using labrun::ParamType;

// models.py GraphConvolution (bias=False, as GCNResnet builds it):
// adj @ (input @ weight), weight [in, out] uniform in +-1/sqrt(out).
class GraphConvolution : public torch::nn::Module {
 public:
  GraphConvolution(std::int64_t in_features, std::int64_t out_features) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(out_features));
    weight_ = register_parameter(
        "weight",
        torch::empty({in_features, out_features}).uniform_(-bound, bound));
  }

  torch::Tensor forward(const torch::Tensor& input,
                        const torch::Tensor& adjacency) {
    return torch::matmul(adjacency, torch::matmul(input, weight_));
  }

 private:
  torch::Tensor weight_;
};

class MlGcnHead : public labrun::Head {
 public:
  // words: [K, E]; graph: the re-weighted graph A [K, K] (with self loops).
  MlGcnHead(torch::Tensor words, torch::Tensor graph, std::int64_t hidden_dim,
            std::int64_t channels, double leaky_slope)
      : leaky_slope_(leaky_slope) {
    words_ = register_buffer("word_embeddings", std::move(words));
    graph_ = register_buffer("A", std::move(graph));
    gc1_ = register_module(
        "gc1", std::make_shared<GraphConvolution>(words_.size(1), hidden_dim));
    gc2_ = register_module(
        "gc2", std::make_shared<GraphConvolution>(hidden_dim, channels));
  }

  // models.py GCNResnet.forward: pooled [B, C] x classifiers [K, C]^T.
  torch::Tensor forward(torch::Tensor features) override {
    // MaxPool2d(14, 14) on the 14x14 map of a 448 input: a global max.
    const torch::Tensor pooled = features.amax({2, 3});
    const torch::Tensor adjacency = normalizedAdjacency();
    const torch::Tensor hidden =
        torch::leaky_relu(gc1_->forward(words_, adjacency), leaky_slope_);
    const torch::Tensor classifiers = gc2_->forward(hidden, adjacency);
    return torch::matmul(pooled, classifiers.t());
  }

  // The released names: gc1.weight, gc2.weight and, when the file has it,
  // A (the graph the checkpoint was trained with, which then replaces the
  // one built from the options); features.* (the backbone) and other keys
  // are left alone, and so are the word embeddings (the released code
  // passed them with every batch; they come from `embeddings`).
  void loadStateDict(const labrun::StateDict& state,
                     const std::string& source) {
    labrun::weights::FitRules rules;
    rules.ignored = [](const std::string& key) {
      const std::string module = key.substr(0, key.find('.'));
      return module != "gc1" && module != "gc2" && key != "A";
    };
    rules.optional = [](const std::string& key) {
      return key == "A" || key == "word_embeddings";
    };
    labrun::weights::loadModuleWeights(*this, state, source, "the mlgcn head",
                                       rules);
  }

 private:
  // util.py gen_adj: D^-1/2 A^T D^-1/2 with D the row sums of A, outside
  // the gradient (the released forward detaches it). Rows summing to 0 get
  // a 0 scale where the released code would divide by zero.
  torch::Tensor normalizedAdjacency() const {
    torch::NoGradGuard no_grad;
    const torch::Tensor sums = graph_.sum(1);
    const torch::Tensor scale =
        torch::where(sums > 0, sums.rsqrt(), torch::zeros_like(sums));
    return scale.unsqueeze(1) * graph_.t() * scale.unsqueeze(0);
  }

  double leaky_slope_;
  torch::Tensor words_;
  torch::Tensor graph_;
  std::shared_ptr<GraphConvolution> gc1_;
  std::shared_ptr<GraphConvolution> gc2_;
};

const std::vector<labrun::ParamSpec> kParams =
    labrun::graph::withGraphParamSpecs(
        /*threshold_default=*/"0.4", /*reweight_default=*/"0.25",
        /*reweight_doc=*/
        "p of ML-GCN's re-weighting (eq. 8), as `compat` says; 0: none",
        {
            {"compat", ParamType::kString, "released",
             "released: the graph as the released code builds it (util.py "
             "gen_A: each column of the binarised graph scaled to sum p, "
             "then A + I; its checkpoints and reported 83.0 mAP); paper: the "
             "corrected eq. (8), off-diagonal rows sum to p, diagonal 1 - p",
             "released|paper"},
            {"hidden_dim", ParamType::kInt, "1024",
             "output size of the first graph convolution",
             /*choices=*/nullptr, /*range=*/">= 1"},
            {"leaky_slope", ParamType::kFloat, "0.2",
             "negative slope of the LeakyReLU between the two convolutions"},
            {"weights", ParamType::kString, "''",
             "state dict with the head's parameters under the released "
             "ML-GCN names (gc1.weight, gc2.weight, and A, which replaces the "
             "built graph; torch.save file, zip or legacy, e.g. a released "
             "checkpoint.pth.tar), relative to the spec; other keys "
             "(features.*) are ignored; '' = random initialisation"},
            {"weights_prefix", ParamType::kString, "''",
             "take the entries under this key prefix (removed) from "
             "`weights`"},
        });

// util.py gen_A after its threshold: A * p / (column sums + 1e-6) + I.
torch::Tensor releasedReweight(const torch::Tensor& binary, double p) {
  const torch::Tensor eye = torch::eye(binary.size(0), binary.options());
  if (p == 0) return binary + eye;
  return binary * p / (binary.sum(0, /*keepdim=*/true) + 1e-6) + eye;
}

std::shared_ptr<labrun::Head> make(const labrun::Params& params,
                                   const labrun::ModelContext& context) {
  const std::int64_t hidden_dim = params.getInt("hidden_dim");
  labrun::graph::AdjacencyOptions graph =
      labrun::graph::adjacencyOptions(params);
  const bool released = params.getString("compat") == "released";
  const double p = graph.reweight;
  if (released) graph.reweight = 0;  // applied below, as gen_A does
  torch::Tensor adjacency = labrun::graph::buildAdjacency(graph, context);
  if (released) {
    if (p < 0 || p > 1) {
      throw std::invalid_argument(
          "adjacency_reweight: expected a value in [0, 1]");
    }
    adjacency =
        releasedReweight(adjacency.to(torch::kDouble), p).to(torch::kFloat);
  }
  auto head = std::make_shared<MlGcnHead>(
      labrun::graph::embeddingsOption(params, context), std::move(adjacency),
      hidden_dim, context.in_channels, params.getFloat("leaky_slope"));
  labrun::weights::loadWeightsOption(*head, params, context);
  return head;
}

const labrun::PluginDescriptor kDescriptor = {
    /*api_version=*/labrun::kPluginApiVersion,
    /*kind=*/labrun::PluginKind::kHead,
    /*name=*/"mlgcn",
    /*version=*/"1.0.0",
    /*summary=*/
    "ML-GCN: a GCN over class word embeddings on the label graph gives the "
    "classifiers of the max-pooled feature",
    /*params=*/kParams.data(),
    /*num_params=*/kParams.size(),
    /*make_backbone=*/nullptr,
    /*make_head=*/&make,
    /*make_loss=*/nullptr,
    /*make_metric=*/nullptr,
};

}  // namespace

LABRUN_PLUGIN(kDescriptor)
