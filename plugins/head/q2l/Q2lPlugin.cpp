// The `q2l` head plugin: options, checks and the descriptor. Defaults are
// the released COCO model's (SlongLiu/query2labels README and main_mlc.py:
// --hidden_dim 2048 --dim_feedforward 8192 --enc_layers 1 --dec_layers 2
// --nheads 4, dropout 0.1, post-norm, no decoder self-attention, no input
// projection).
#include <torch/torch.h>

#include "ModuleWeights.h"
#include "Query2LabelHead.h"
#include "labrun/PluginDescriptor.h"

namespace {

using labrun::ParamType;

const labrun::ParamSpec kParams[] = {
    {"hidden_dim", ParamType::kInt, "2048",
     "transformer width d (a multiple of 4 and of num_heads); without "
     "input_proj it must equal the backbone's channels",
     /*choices=*/nullptr, /*range=*/">= 4"},
    {"num_heads", ParamType::kInt, "4", "attention heads", /*choices=*/nullptr,
     /*range=*/">= 1"},
    {"enc_layers", ParamType::kInt, "1",
     "transformer encoder layers over the feature map (0: none)",
     /*choices=*/nullptr, /*range=*/">= 0"},
    {"dec_layers", ParamType::kInt, "2", "transformer decoder layers",
     /*choices=*/nullptr, /*range=*/">= 1"},
    {"dim_feedforward", ParamType::kInt, "8192",
     "inner size of the feed-forward blocks", /*choices=*/nullptr,
     /*range=*/">= 1"},
    {"dropout", ParamType::kFloat, "0.1",
     "dropout in the transformer (attention weights, after attention, in "
     "the feed-forward blocks)",
     /*choices=*/nullptr, /*range=*/"[0, 1)"},
    {"pre_norm", ParamType::kBool, "false",
     "LayerNorm before each block instead of after (needs both "
     "keep_*_self_attn, as the released code does)"},
    {"keep_first_self_attn", ParamType::kBool, "false",
     "keep the self-attention of decoder layer 0 (the released code removes "
     "it by default)"},
    {"keep_other_self_attn", ParamType::kBool, "false",
     "keep the self-attention of the other decoder layers"},
    {"input_proj", ParamType::kBool, "false",
     "a 1x1 convolution from the backbone's channels to hidden_dim "
     "(keep_input_proj; the released COCO models have none)"},
    {"weights", ParamType::kString, "''",
     "state dict with the head's parameters under the released Query2Label "
     "names (transformer.*, query_embed.weight, fc.W, fc.b, input_proj.*; "
     "torch.save file, e.g. a released checkpoint), relative to the spec; "
     "other keys (backbone.*) are ignored; '' = random initialisation"},
    {"weights_prefix", ParamType::kString, "''",
     "take the entries under this key prefix (removed) from `weights`"},
};

labrun::q2l::Query2LabelOptions readOptions(
    const labrun::Params& params, const labrun::ModelContext& context) {
  labrun::q2l::Query2LabelOptions options;
  options.in_channels = context.in_channels;
  options.num_classes = context.num_classes;
  options.input_proj = params.getBool("input_proj");
  labrun::q2l::TransformerOptions& t = options.transformer;
  t.hidden_dim = params.getInt("hidden_dim");
  t.num_heads = params.getInt("num_heads");
  t.enc_layers = params.getInt("enc_layers");
  t.dec_layers = params.getInt("dec_layers");
  t.dim_feedforward = params.getInt("dim_feedforward");
  t.dropout = params.getFloat("dropout");
  t.pre_norm = params.getBool("pre_norm");
  t.keep_first_self_attn = params.getBool("keep_first_self_attn");
  t.keep_other_self_attn = params.getBool("keep_other_self_attn");
  // The sine encoding gives each axis hidden_dim / 2 features, in sin/cos
  // pairs.
  if (t.hidden_dim % 4 != 0 || t.hidden_dim % t.num_heads != 0) {
    throw std::invalid_argument(
        c10::str("hidden_dim: expected a multiple of 4 and of num_heads (",
                 t.num_heads, "), found ", t.hidden_dim));
  }
  if (t.pre_norm && !(t.keep_first_self_attn &&
                      (t.keep_other_self_attn || t.dec_layers == 1))) {
    throw std::invalid_argument(
        "pre_norm: the released pre-norm decoder layer always runs its "
        "self-attention; set keep_first_self_attn and keep_other_self_attn");
  }
  if (!options.input_proj && options.in_channels != t.hidden_dim) {
    throw std::invalid_argument(c10::str(
        "hidden_dim: ", t.hidden_dim, " differs from the backbone's ",
        options.in_channels, " channels; set input_proj: true or hidden_dim: ",
        options.in_channels));
  }
  return options;
}

std::shared_ptr<labrun::Head> make(const labrun::Params& params,
                                   const labrun::ModelContext& context) {
  auto head = std::make_shared<labrun::q2l::Query2LabelHead>(
      readOptions(params, context));
  labrun::weights::loadWeightsOption(*head, params, context);
  return head;
}

const labrun::PluginDescriptor kDescriptor = {
    /*api_version=*/labrun::kPluginApiVersion,
    /*kind=*/labrun::PluginKind::kHead,
    /*name=*/"q2l",
    /*version=*/"1.0.0",
    /*summary=*/"Query2Label: transformer decoder with one query per label",
    /*params=*/kParams,
    /*num_params=*/std::size(kParams),
    /*make_backbone=*/nullptr,
    /*make_head=*/&make,
    /*make_loss=*/nullptr,
    /*make_metric=*/nullptr,
};

}  // namespace

LABRUN_PLUGIN(kDescriptor)
