#include "train/CoreSchema.h"

#include <iterator>

namespace labrun::train {
namespace {

using labrun::ParamType;
using spec::Field;

std::vector<Field> runFields() {
  return {
      {"name", ParamType::kString, "''",
       "run name; empty: the spec file's name without extension"},
      {"seed", ParamType::kInt, "0",
       "seed of weight init, data order and augmentation"},
      {"threads", ParamType::kIntOrAuto, "auto",
       "LibTorch intra-op threads; auto: one per core"},
      {"device", ParamType::kString, "auto",
       "auto (CUDA when available), cpu, cuda or cuda:N"},
      {"output_dir", ParamType::kString, "runs",
       "folder for checkpoints (one sub-folder per run)"},
  };
}

// Dataset formats and their files (data.format and per-format keys).
std::vector<Field> dataFormatFields() {
  return {
      {"data.format", ParamType::kString, "synthetic", "dataset format",
       "synthetic"},
      {"data.synthetic.num_classes", ParamType::kInt, "8",
       "labels of the generated set (2..16)"},
      {"data.synthetic.image_size", ParamType::kInt, "32",
       "side of the generated square images in pixels"},
      {"data.synthetic.train_size", ParamType::kInt, "1024",
       "training images"},
      {"data.synthetic.val_size", ParamType::kInt, "256",
       "validation images"},
      {"data.synthetic.seed", ParamType::kInt, "7",
       "seed of the generated images (fixed across training seeds)"},
  };
}

// Batching, decoding and transforms.
std::vector<Field> dataLoaderFields() {
  return {
      {"data.batch_size", ParamType::kInt, "32", "images per step"},
  };
}

std::vector<Field> optimFields() {
  return {
      {"optim.name", ParamType::kString, "adam", "optimizer", "adam|sgd"},
      {"optim.lr", ParamType::kFloat, "0.001", "learning rate"},
      {"optim.weight_decay", ParamType::kFloat, "0.0", "L2 weight decay"},
      {"optim.momentum", ParamType::kFloat, "0.9", "SGD momentum"},
      {"optim.nesterov", ParamType::kBool, "false", "SGD Nesterov"},
  };
}

std::vector<Field> trainFields() {
  return {
      {"train.epochs", ParamType::kInt, "1", "passes over the train set"},
      {"train.log_every", ParamType::kInt, "10",
       "print a progress line every N steps"},
      {"checkpoint.enabled", ParamType::kBool, "true",
       "save model and optimizer at every epoch end"},
  };
}

spec::Schema makeSchema() {
  spec::Schema schema;
  for (auto group : {runFields(), dataFormatFields(), dataLoaderFields(),
                     optimFields(), trainFields()}) {
    schema.fields.insert(schema.fields.end(),
                         std::make_move_iterator(group.begin()),
                         std::make_move_iterator(group.end()));
  }
  schema.slots = {
      {"model.backbone", PluginKind::kBackbone, /*is_list=*/false,
       /*default_name=*/"", "backbone plugin and its parameters"},
      {"model.head", PluginKind::kHead, /*is_list=*/false,
       /*default_name=*/"fc", "head plugin and its parameters"},
      {"loss", PluginKind::kLoss, /*is_list=*/false,
       /*default_name=*/"bce", "loss plugin and its parameters"},
      {"metrics", PluginKind::kMetric, /*is_list=*/true,
       /*default_name=*/"map",
       "metric plugins; the first metric's first value ranks checkpoints"},
  };
  return schema;
}

}  // namespace

const spec::Schema& coreSchema() {
  static const spec::Schema schema = makeSchema();
  return schema;
}

}  // namespace labrun::train
