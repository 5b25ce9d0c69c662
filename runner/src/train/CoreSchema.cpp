#include "train/CoreSchema.h"

#include <iterator>

#include "store/HeadlineMetric.h"

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
       "LibTorch intra-op threads; auto: one per core this process may use",
       /*choices=*/"",
       /*range=*/">= 1"},
      {"device", ParamType::kString, "auto",
       "auto (CUDA when available), cpu, cuda or cuda:N"},
      {"output_dir", ParamType::kString, "runs",
       "folder for checkpoints (one sub-folder per run)"},
  };
}

// Dataset formats and their files (data.format and per-format keys).
std::vector<Field> dataFormatFields() {
  return {
      {"data.format", ParamType::kString, "synthetic",
       "dataset format: synthetic (generated), coco (instances JSON), voc "
       "(VOCdevkit folder) or list (image + labels per line)",
       "synthetic|coco|voc|list"},
      {"data.root", ParamType::kString, "''",
       "folder that relative paths in data.* resolve against; relative to "
       "the spec file's folder (empty: that folder); voc: the VOC2007 folder"},
      {"data.classes", ParamType::kString, "''",
       "class list setting the label order: a .tsv with a 'name' column or "
       "one name per line; empty: coco categories by id, the 20 voc classes, "
       "list class0.. by count"},
      {"data.drop_unannotated", ParamType::kBool, "false",
       "drop images without any annotation (as ML-GCN and ASL do for COCO); "
       "false keeps them as all-negative rows"},
      {"data.difficult", ParamType::kString, "ignore",
       "voc objects marked difficult, for a class not otherwise on the "
       "image: ignore (masked out of loss and metrics, the VOC protocol), "
       "positive, or negative (the released SSGRL code)",
       "ignore|positive|negative"},
      {"data.cache", ParamType::kBool, "true",
       "keep parsed labels in a cache file, valid while the annotation "
       "files are unchanged (size, mtime, content hash)"},
      {"data.cache_dir", ParamType::kString, "''",
       "folder of label cache files; empty: next to the annotation file when "
       "writable, else $XDG_CACHE_HOME/labrun (~/.cache/labrun)"},
      {"data.train.annotations", ParamType::kString, "",
       "coco: instances JSON file; list: label list file"},
      {"data.train.images", ParamType::kString, "",
       "image folder (coco: required; voc: default <root>/JPEGImages; list: "
       "default the list file's folder)"},
      {"data.train.split", ParamType::kString, "trainval",
       "voc: image set, ImageSets/Main/<split>.txt"},
      {"data.val.annotations", ParamType::kString, "",
       "coco: instances JSON file; list: label list file"},
      {"data.val.images", ParamType::kString, "",
       "image folder (coco: required; voc: default <root>/JPEGImages; list: "
       "default the list file's folder)"},
      {"data.val.split", ParamType::kString, "test",
       "voc: image set, ImageSets/Main/<split>.txt"},
      {"data.synthetic.num_classes", ParamType::kInt, "8",
       "labels of the generated set (2..16)", /*choices=*/"",
       /*range=*/"[2, 16]"},
      {"data.synthetic.image_size", ParamType::kInt, "32",
       "side of the generated square images in pixels", /*choices=*/"",
       /*range=*/">= 16"},
      {"data.synthetic.train_size", ParamType::kInt, "1024", "training images",
       /*choices=*/"",
       /*range=*/">= 1"},
      {"data.synthetic.val_size", ParamType::kInt, "256", "validation images",
       /*choices=*/"",
       /*range=*/">= 1"},
      {"data.synthetic.seed", ParamType::kInt, "7",
       "seed of the generated images (fixed across training seeds)"},
  };
}

// Batching, decoding and transforms.
std::vector<Field> dataLoaderFields() {
  return {
      {"data.batch_size", ParamType::kInt, "32", "images per step",
       /*choices=*/"",
       /*range=*/">= 1"},
      {"data.workers", ParamType::kIntOrAuto, "auto",
       "image decoding threads per loader; auto: one per usable core",
       /*choices=*/"",
       /*range=*/">= 1"},
      {"data.prefetch", ParamType::kInt, "2",
       "batches decoded ahead of the training step", /*choices=*/"",
       /*range=*/">= 1"},
      {"data.max_bad_images", ParamType::kString, "1%",
       "unusable images (skipped with a warning, replaced by the next one) "
       "tolerated before the run fails: a count (20), a fraction below 1 "
       "(0.01) or a percentage (1%)"},
      {"data.transforms.train", ParamType::kStringList, "[ssgrl_train]",
       "train image steps, in order: resize S|HxW, random_crop A|B|..., "
       "center_crop S|HxW, hflip [P], normalize [M M M S S S]; or presets "
       "ssgrl_train, ssgrl_val"},
      {"data.transforms.val", ParamType::kStringList, "[ssgrl_val]",
       "evaluation image steps or presets, as data.transforms.train"},
  };
}

std::vector<Field> optimFields() {
  return {
      {"optim.name", ParamType::kString, "adam", "optimizer", "adam|adamw|sgd"},
      {"optim.lr", ParamType::kFloat, "0.001", "base learning rate",
       /*choices=*/"",
       /*range=*/">= 0"},
      {"optim.weight_decay", ParamType::kFloat, "0.0",
       "weight decay (decoupled for adamw, L2 otherwise)", /*choices=*/"",
       /*range=*/">= 0"},
      {"optim.momentum", ParamType::kFloat, "0.9", "SGD momentum",
       /*choices=*/"",
       /*range=*/">= 0"},
      {"optim.nesterov", ParamType::kBool, "false", "SGD Nesterov"},
      {"optim.freeze", ParamType::kStringList, "[]",
       "parameter-name prefixes to freeze, e.g. [backbone.layer1]"},
      {"optim.lr_mult", ParamType::kStringList, "[]",
       "PREFIX=FACTOR learning-rate multipliers, e.g. [backbone=0.1] "
       "(longest prefix wins)"},
      {"optim.accumulate", ParamType::kInt, "1",
       "micro-batches per optimizer step (batch B behaves as B x N)",
       /*choices=*/"",
       /*range=*/">= 1"},
      {"optim.clip_grad_norm", ParamType::kFloat, "0.0",
       "clip the gradient norm to this value; 0: off", /*choices=*/"",
       /*range=*/">= 0"},
      {"optim.ema", ParamType::kFloat, "0.0",
       "decay of an exponential moving average of the weights, evaluated "
       "alongside as val_ema/*; 0: off",
       /*choices=*/"",
       /*range=*/"[0, 1)"},
  };
}

std::vector<Field> scheduleFields() {
  return {
      {"schedule.name", ParamType::kString, "constant",
       "learning-rate schedule",
       "constant|step|multistep|cosine|onecycle|plateau"},
      {"schedule.step_size", ParamType::kInt, "30",
       "step: epochs between decays", /*choices=*/"",
       /*range=*/">= 1"},
      {"schedule.milestones", ParamType::kIntList, "[]",
       "multistep: epochs at which the rate decays", /*choices=*/"",
       /*range=*/">= 1"},
      {"schedule.gamma", ParamType::kFloat, "0.1", "step/multistep: decay"},
      {"schedule.min_factor", ParamType::kFloat, "0.0",
       "cosine: final rate as a fraction of the base rate"},
      {"schedule.pct_start", ParamType::kFloat, "0.3",
       "onecycle: share of steps spent rising"},
      {"schedule.div_factor", ParamType::kFloat, "25.0",
       "onecycle: base rate / initial rate"},
      {"schedule.final_div_factor", ParamType::kFloat, "10000.0",
       "onecycle: initial rate / final rate"},
      {"schedule.metric", ParamType::kString, store::kHeadlineMetric,
       "plateau: the validation key watched (as checkpoint.best_by)"},
      {"schedule.mode", ParamType::kString, "max",
       "plateau: whether the metric should rise or fall", "max|min"},
      {"schedule.factor", ParamType::kFloat, "0.1",
       "plateau: decay when the metric stops improving"},
      {"schedule.patience", ParamType::kInt, "2",
       "plateau: evaluations without improvement before a decay",
       /*choices=*/"",
       /*range=*/">= 0"},
      {"schedule.threshold", ParamType::kFloat, "0.0001",
       "plateau: relative change that counts as an improvement"},
      {"schedule.warmup_steps", ParamType::kInt, "0",
       "linear warm-up steps (with any schedule)", /*choices=*/"",
       /*range=*/">= 0"},
      {"schedule.warmup_start", ParamType::kFloat, "0.01",
       "warm-up's first factor on the rate"},
  };
}

std::vector<Field> trainFields() {
  return {
      {"train.epochs", ParamType::kInt, "1", "passes over the train set",
       /*choices=*/"",
       /*range=*/">= 0"},
      {"train.precision", ParamType::kString, "fp32",
       "arithmetic of the training step: fp32; tf32 (CUDA: TensorFloat-32 "
       "matrix products and convolutions; as fp32 on CPU); bf16 (autocast "
       "to bfloat16, CPU or CUDA); fp16 (CUDA: autocast to float16 with "
       "dynamic loss scaling, a step whose gradients overflow is skipped "
       "and the scale halved). Evaluation runs in float32",
       "fp32|tf32|bf16|fp16"},
      {"model.memory_format", ParamType::kString, "contiguous",
       "layout of the images and of the model's convolution weights: "
       "contiguous (NCHW) or channels_last (NHWC, which oneDNN and cuDNN "
       "convolve without reordering: docs/BENCHMARKS.md, \"Training "
       "step\"); the same values, other rounding. Checkpoints keep it; "
       "`labrun export` writes contiguous tensors",
       "contiguous|channels_last"},
      {"train.log_every", ParamType::kInt, "10",
       "off a terminal: a progress line every N steps", /*choices=*/"",
       /*range=*/">= 0"},
      {"train.early_stop.metric", ParamType::kString, "''",
       "early stopping: the validation key watched (val/mAP, val/loss, a "
       "labelled val/mAP@label, val_ema/* with optim.ema); the run ends, "
       "finished, once it has not improved for `patience` evaluations; "
       "empty: off. A key that no metric records is a spec error"},
      {"train.early_stop.mode", ParamType::kString, "max",
       "early stopping: whether the metric should rise or fall", "max|min"},
      {"train.early_stop.patience", ParamType::kInt, "3",
       "early stopping: evaluations without improvement before the run "
       "ends (at least 1)",
       /*choices=*/"",
       /*range=*/">= 1"},
      {"train.early_stop.min_delta", ParamType::kFloat, "0.0",
       "early stopping: the change beyond the best value that counts as an "
       "improvement (at least 0)",
       /*choices=*/"",
       /*range=*/">= 0"},
      {"init_from", ParamType::kString, "''",
       "model weights that start this run: a labrun checkpoint file, or a "
       "run in the store (name, uuid or uuid prefix), its best checkpoint"},
      {"init_modules", ParamType::kStringList, "[]",
       "take only the entries under these module prefixes from init_from, "
       "e.g. [backbone] (the head starts fresh); []: the whole model. Each "
       "entry must exist on both sides with the same shape"},
      {"deterministic", ParamType::kBool, "false",
       "use only deterministic kernels (slower on GPU)"},
      {"eval.every_epochs", ParamType::kInt, "1",
       "evaluate every N epochs (and after the last)", /*choices=*/"",
       /*range=*/">= 1"},
      {"eval.sanity_batches", ParamType::kInt, "2",
       "validation batches run before training, so a broken evaluation "
       "fails in seconds; 0: off",
       /*choices=*/"",
       /*range=*/">= 0"},
      {"checkpoint.enabled", ParamType::kBool, "true",
       "save checkpoints (model, optimizer, schedule, RNG, data position)"},
      {"checkpoint.every_steps", ParamType::kInt, "0",
       "also save every N optimizer steps; 0: at epoch ends only",
       /*choices=*/"",
       /*range=*/">= 0"},
      {"checkpoint.keep_last", ParamType::kInt, "3",
       "keep the newest N checkpoints (and the best); 0: keep all",
       /*choices=*/"",
       /*range=*/">= 0"},
      {"checkpoint.best_by", ParamType::kString, store::kHeadlineMetric,
       "validation key ranking checkpoints (as train.early_stop.metric; "
       "a key set here that no metric records is a spec error)"},
      {"checkpoint.best_mode", ParamType::kString, "max",
       "whether best_by should be high or low", "max|min"},
  };
}

// Data-parallel training (labrun run --nproc N; docs/DISTRIBUTED.md).
std::vector<Field> distributedFields() {
  return {
      {"distributed.backend", ParamType::kString, "auto",
       "c10d process group of a run with several workers: auto (nccl on "
       "CUDA when LibTorch has it, else gloo), gloo or nccl",
       "auto|gloo|nccl"},
      {"distributed.timeout_s", ParamType::kInt, "300",
       "seconds a collective or the rendezvous may wait for a silent peer",
       /*choices=*/"", /*range=*/">= 1"},
      {"distributed.bucket_mb", ParamType::kFloat, "25",
       "gradient all-reduce bucket size in MiB", /*choices=*/"",
       /*range=*/"> 0"},
      {"distributed.overlap_backward", ParamType::kBool, "true",
       "start each bucket's all-reduce during backward, once its gradients "
       "are ready (false: after backward)"},
  };
}

spec::Schema makeSchema() {
  spec::Schema schema;
  for (auto group :
       {runFields(), dataFormatFields(), dataLoaderFields(), optimFields(),
        scheduleFields(), trainFields(), distributedFields()}) {
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
       "metric plugins; a plugin listed twice records each instance under "
       "its label, `label:` or its non-default parameters "
       "(val/mAP@ap=sklearn; docs/RESULTS.md)"},
  };
  return schema;
}

}  // namespace

const spec::Schema& coreSchema() {
  static const spec::Schema schema = makeSchema();
  return schema;
}

}  // namespace labrun::train
