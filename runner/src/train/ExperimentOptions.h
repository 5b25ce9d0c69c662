// The validated spec read once into typed options: the one place that reads
// the core's spec keys (train/CoreSchema.cpp declares them, with their
// types, defaults and ranges, which the validator has already checked).
// The experiment assembles its parts from these; data, dist, the optimizer
// and the trainer never see the spec tree.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/ImageLoader.h"
#include "data/LabelSource.h"
#include "data/SyntheticDataset.h"
#include "data/Transforms.h"
#include "dist/GroupOptions.h"
#include "labrun/ParamSpec.h"
#include "plugins/PluginHost.h"
#include "spec/Located.h"
#include "spec/Node.h"
#include "train/Optimizers.h"
#include "train/TrainerOptions.h"

namespace labrun::train {

// A plugin slot: the plugin it names and its typed parameters.
struct PluginUse {
  const plugins::LoadedPlugin* plugin = nullptr;
  Params params;
  std::string label;  // metrics: NamedMetric::label; "" elsewhere
  // Where the spec names it, "file:line:column: model.backbone", so that
  // the plugin's own errors (a weights file that is not there) say it.
  std::string where;
};

// A validation key that a stage watches, as the spec wrote it.
struct WatchedKey {
  std::string key;                   // e.g. checkpoint.best_by
  spec::Located<std::string> value;  // e.g. val/mAP@ap=sklearn
};

struct InitFrom {
  spec::Located<std::string> source;  // init_from: a file or a run id
  std::vector<std::string> modules;   // init_modules
};

// How one split's images become batches.
struct ImageSplit {
  data::TransformPipeline transforms;  // data.transforms.<split>
  data::LoaderOptions loader;          // batch size, workers, prefetch, ...
};

struct ExperimentOptions {
  torch::Device device = torch::kCPU;
  int threads = 0;  // intra-op threads; 0 = auto: one per core
  std::uint64_t seed = 0;
  bool deterministic = false;
  std::string output_dir;  // checkpoints, one sub-folder per run
  // Annotation files (coco, voc, list) read into labels, or nullopt for
  // the generated set (data.format: synthetic).
  std::optional<data::LabelSourceOptions> labels;
  ImageSplit train_images, val_images;
  data::SyntheticOptions synthetic_train, synthetic_val;
  std::int64_t batch_size = 32;
  PluginUse backbone, head, loss;
  // model.memory_format: the layout of the images and convolution weights.
  c10::MemoryFormat memory_format = c10::MemoryFormat::Contiguous;
  std::vector<PluginUse> metrics;
  std::optional<InitFrom> init_from;
  OptimizerOptions optim;
  // Everything but the per-run fields (checkpoint_dir, quiet, terminal,
  // collective), which the experiment sets when it trains.
  TrainerOptions trainer;
  // The keys of the stages in use that the spec wrote: train.early_stop.
  // metric, checkpoint.best_by (checkpoints on) and schedule.metric
  // (plateau), for Experiment::checkWatchedKeys.
  std::vector<WatchedKey> watched;
  std::int64_t keep_last = 3;  // checkpoint.keep_last
  dist::GroupOptions group;    // backend for this device, timeout, buckets
};

// Binds a validated tree (spec::validate against coreSchema()). Throws
// spec::SpecError naming the key for what the schema cannot say (a CUDA
// device without CUDA, an lr_mult entry that is not PREFIX=FACTOR, two
// metric instances that would record the same keys, ...).
ExperimentOptions bindOptions(const spec::Node& tree,
                              const plugins::PluginHost& host);

// A split's images (the label source is train/LabelSourceBinding.h's).
ImageSplit bindImageSplit(const spec::Node& tree, bool train);

// For a launcher about to start data-parallel workers: each worker takes
// the GPU of its local rank, as the process group does, so a spec naming
// one GPU (`device: cuda:N`) is a spec::SpecError naming the key.
void checkDeviceForWorkers(const spec::Node& tree);

}  // namespace labrun::train
