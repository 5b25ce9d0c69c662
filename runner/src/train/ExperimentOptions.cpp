#include "train/ExperimentOptions.h"

#include <fmt/format.h>
#include <torch/cuda.h>

#include <map>

#include "dist/Group.h"
#include "spec/Schema.h"
#include "spec/SpecError.h"
#include "spec/SpecLoader.h"
#include "train/LabelSourceBinding.h"

namespace labrun::train {
namespace {

using spec::located;

// The plugin a slot map names and its typed parameters.
PluginUse usePlugin(const plugins::PluginHost& host, PluginKind kind,
                    const spec::Node& slot, const std::string& key) {
  const plugins::LoadedPlugin& plugin =
      host.find(kind, slot.at("name").asString());
  return {&plugin, spec::pluginParams(slot, plugin.params()), "",
          slot.origin().describe() + ": " + key};
}

torch::Device parseDevice(const spec::Node& node) {
  const std::string text = node.asString();
  if (text == "auto") {
    return torch::cuda::is_available() ? torch::Device(torch::kCUDA)
                                       : torch::Device(torch::kCPU);
  }
  try {
    const torch::Device device(text);
    if (device.is_cuda() && !torch::cuda::is_available()) {
      throw spec::SpecError(fmt::format(
          "{}: device: '{}' requested, but this LibTorch has no CUDA or no "
          "GPU is visible",
          node.origin().describe(), text));
    }
    return device;
  } catch (const c10::Error&) {
    throw spec::SpecError(fmt::format(
        "{}: device: expected auto, cpu, cuda or cuda:N, found '{}'",
        node.origin().describe(), text));
  }
}

}  // namespace

void checkDeviceForWorkers(const spec::Node& tree) {
  const spec::Node& node = tree.at("device");
  const std::string text = node.asString();
  if (text.rfind("cuda:", 0) == 0) {
    throw spec::SpecError(fmt::format(
        "{}: device: '{}': each worker of a data-parallel run takes the GPU "
        "of its local rank (cuda:0, cuda:1, ... on each machine); write "
        "device: cuda, and choose the GPUs with CUDA_VISIBLE_DEVICES",
        node.origin().describe(), text));
  }
}

namespace {

data::SyntheticOptions syntheticOptions(const spec::Node& tree, bool train) {
  data::SyntheticOptions options;
  options.num_classes = tree.at("data.synthetic.num_classes").asInt();
  options.image_size = tree.at("data.synthetic.image_size").asInt();
  options.size =
      tree.at(train ? "data.synthetic.train_size" : "data.synthetic.val_size")
          .asInt();
  options.seed = static_cast<std::uint64_t>(
      tree.at("data.synthetic.seed").asInt() + (train ? 0 : 1));
  return options;
}

// train.early_stop, or none when its metric is empty. The metric's split
// is checked here; its name against the sanity evaluation's keys (before
// the first step) or the first epoch's.
std::optional<EarlyStopOptions> earlyStopOptions(const spec::Node& tree) {
  const spec::Node& metric = tree.at("train.early_stop.metric");
  EarlyStopOptions options;
  options.metric = metric.asString();
  options.maximize = tree.at("train.early_stop.mode").asString() == "max";
  options.patience = tree.at("train.early_stop.patience").asInt();
  options.min_delta = tree.at("train.early_stop.min_delta").asDouble();
  options.origin = metric.origin().describe();
  if (options.metric.empty()) return std::nullopt;
  const auto slash = options.metric.find('/');
  const std::string split = options.metric.substr(0, slash);
  const bool ema = tree.at("optim.ema").asDouble() > 0;
  if (slash == std::string::npos || slash + 1 == options.metric.size() ||
      (split != "val" && !(split == "val_ema" && ema))) {
    throw spec::SpecError(fmt::format(
        "{}: train.early_stop.metric: expected a validation key, val/<name> "
        "(val/loss, val/mAP, ...){}, found '{}'",
        options.origin, ema ? " or val_ema/<name>" : "", options.metric));
  }
  return options;
}

ScheduleOptions scheduleOptions(const spec::Node& tree) {
  ScheduleOptions schedule;
  schedule.name = tree.at("schedule.name").asString();
  schedule.step_size = tree.at("schedule.step_size").asInt();
  for (const spec::Node& item : tree.at("schedule.milestones").items()) {
    schedule.milestones.push_back(item.asInt());
  }
  schedule.gamma = tree.at("schedule.gamma").asDouble();
  schedule.min_factor = tree.at("schedule.min_factor").asDouble();
  schedule.pct_start = tree.at("schedule.pct_start").asDouble();
  schedule.div_factor = tree.at("schedule.div_factor").asDouble();
  schedule.final_div_factor = tree.at("schedule.final_div_factor").asDouble();
  schedule.plateau_metric = tree.at("schedule.metric").asString();
  schedule.plateau_mode = tree.at("schedule.mode").asString();
  schedule.plateau_factor = tree.at("schedule.factor").asDouble();
  schedule.patience = tree.at("schedule.patience").asInt();
  schedule.threshold = tree.at("schedule.threshold").asDouble();
  schedule.warmup_steps = tree.at("schedule.warmup_steps").asInt();
  schedule.warmup_start = tree.at("schedule.warmup_start").asDouble();
  return schedule;
}

TrainerOptions trainerOptions(const spec::Node& tree) {
  TrainerOptions options;
  options.epochs = tree.at("train.epochs").asInt();
  options.log_every = tree.at("train.log_every").asInt();
  options.accumulate = tree.at("optim.accumulate").asInt();
  options.clip_grad_norm = tree.at("optim.clip_grad_norm").asDouble();
  options.ema_decay = tree.at("optim.ema").asDouble();
  options.eval_every_epochs = tree.at("eval.every_epochs").asInt();
  options.sanity_batches = tree.at("eval.sanity_batches").asInt();
  options.save_checkpoints = tree.at("checkpoint.enabled").asBool();
  options.checkpoint_every_steps = tree.at("checkpoint.every_steps").asInt();
  options.best_by = tree.at("checkpoint.best_by").asString();
  options.best_max = tree.at("checkpoint.best_mode").asString() == "max";
  options.early_stop = earlyStopOptions(tree);
  options.schedule = scheduleOptions(tree);
  return options;
}

// ExperimentOptions::watched. A default stays out: best_by's and
// schedule.metric's name map's mAP, and a run without map keeps running as
// it always did (checkpoints unranked, the plateau never reached).
std::vector<WatchedKey> watchedKeys(const spec::Node& tree) {
  std::vector<WatchedKey> watched;
  const auto watch = [&](const std::string& key, bool in_use) {
    const spec::Node& value = tree.at(key);
    if (in_use && !value.origin().isDefault()) {
      watched.push_back({key, located(value)});
    }
  };
  watch("train.early_stop.metric",
        !tree.at("train.early_stop.metric").asString().empty());
  watch("checkpoint.best_by", tree.at("checkpoint.enabled").asBool());
  watch("schedule.metric", tree.at("schedule.name").asString() == "plateau");
  return watched;
}

OptimizerOptions optimizerOptions(const spec::Node& tree) {
  OptimizerOptions options;
  options.name = tree.at("optim.name").asString();
  options.lr = tree.at("optim.lr").asDouble();
  options.weight_decay = tree.at("optim.weight_decay").asDouble();
  options.momentum = tree.at("optim.momentum").asDouble();
  options.nesterov = tree.at("optim.nesterov").asBool();
  for (const spec::Node& item : tree.at("optim.freeze").items()) {
    options.freeze.push_back(located(item));
  }
  for (const spec::Node& item : tree.at("optim.lr_mult").items()) {
    options.lr_mult.push_back(
        parseLrMultiplier(item.asString(), item.origin().describe()));
  }
  options.origin = tree.at("optim").origin().describe();
  return options;
}

// "k=v,..." of the parameters of a metric instance that differ from the
// plugin's defaults, in declaration order.
std::string nonDefaultParams(const spec::Node& slot,
                             const std::vector<ParamSpec>& specs) {
  std::string label;
  for (const ParamSpec& declared : specs) {
    const spec::Node& value = slot.at(declared.name);
    if (declared.default_yaml != nullptr &&
        spec::toParamValue(value, declared.type, declared.name) ==
            spec::toParamValue(spec::parseYamlText(declared.default_yaml, {}),
                               declared.type, declared.name)) {
      continue;
    }
    label += (label.empty() ? "" : ",") + std::string(declared.name) + "=" +
             (value.isScalar() ? value.text() : spec::toYaml(value));
  }
  return label;
}

// The `metrics` items with their labels (NamedMetric::label): its `label:`,
// else "" for a plugin listed once, else its non-default parameters. Two
// items that would record the same keys are a spec error naming both.
std::vector<PluginUse> metricUses(const spec::Node& metrics,
                                  const plugins::PluginHost& host) {
  const auto& items = metrics.items();
  std::map<std::string, int> listed;
  for (const spec::Node& item : items) ++listed[item.at("name").asString()];
  std::vector<PluginUse> uses;
  std::map<std::string, std::size_t> first_with;  // "plugin@label" -> item
  for (std::size_t i = 0; i < items.size(); ++i) {
    const spec::Node& item = items[i];
    PluginUse use = usePlugin(host, PluginKind::kMetric, item,
                              "metrics." + std::to_string(i));
    const std::string plugin = use.plugin->name();
    const spec::Node* given = item.find(spec::kInstanceLabel);
    const spec::Node& where = given != nullptr ? *given : item;
    std::string& label = use.label;
    if (given != nullptr) {
      label = given->asString();
    } else if (listed[plugin] > 1) {
      label = nonDefaultParams(item, use.plugin->params());
    }
    const bool readable = label.find_first_not_of(
                              "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq"
                              "rstuvwxyz0123456789_.,=+-") == std::string::npos;
    if ((given != nullptr && label.empty()) || !readable) {
      throw spec::SpecError(fmt::format(
          "{}: metrics.{}: label '{}': expected letters, digits and _.,=+- "
          "(it becomes part of metric keys such as val/mAP@label){}",
          where.origin().describe(), i, label,
          given != nullptr ? "" : "; set `label:`"));
    }
    const auto [clash, added] = first_with.emplace(plugin + "@" + label, i);
    if (!added) {
      const spec::Node& other = items[clash->second];
      throw spec::SpecError(fmt::format(
          "{}: metrics.{}: records the same keys as metrics.{} ({}): both are "
          "'{}'{}; give one of them a different `label:`",
          item.origin().describe(), i, clash->second, other.origin().describe(),
          plugin, label.empty() ? "" : " labelled '" + label + "'"));
    }
    uses.push_back(std::move(use));
  }
  return uses;
}

data::LoaderOptions loaderOptions(const spec::Node& tree, bool train) {
  data::LoaderOptions options;
  options.batch_size = tree.at("data.batch_size").asInt();
  options.prefetch = tree.at("data.prefetch").asInt();
  const auto workers = std::get<std::int64_t>(spec::toParamValue(
      tree.at("data.workers"), ParamType::kIntOrAuto, "data.workers"));
  options.workers = workers > 0 ? static_cast<int>(workers) : 0;
  options.seed = static_cast<std::uint64_t>(tree.at("seed").asInt());
  options.shuffle = train;
  const spec::Node& limit = tree.at("data.max_bad_images");
  try {
    options.max_bad_images = data::BadImageLimit::parse(limit.asString());
  } catch (const std::invalid_argument& bad) {
    throw spec::SpecError(fmt::format("{}: data.max_bad_images: {}",
                                      limit.origin().describe(), bad.what()));
  }
  return options;
}

}  // namespace

ImageSplit bindImageSplit(const spec::Node& tree, bool train) {
  const std::string key =
      train ? "data.transforms.train" : "data.transforms.val";
  const spec::Node& steps = tree.at(key);
  std::vector<spec::Located<std::string>> located_steps;
  for (const spec::Node& item : steps.items()) {
    located_steps.push_back(located(item));
  }
  return {data::TransformPipeline::parse(located_steps, key,
                                         steps.origin().describe()),
          loaderOptions(tree, train)};
}

ExperimentOptions bindOptions(const spec::Node& tree,
                              const plugins::PluginHost& host) {
  ExperimentOptions options;
  options.device = parseDevice(tree.at("device"));
  options.group.backend = dist::chooseBackend(
      located(tree.at("distributed.backend")), options.device.is_cuda());
  options.group.timeout =
      std::chrono::seconds(tree.at("distributed.timeout_s").asInt());
  options.group.bucket_bytes = static_cast<std::int64_t>(
      tree.at("distributed.bucket_mb").asDouble() * (1 << 20));
  options.group.overlap_backward =
      tree.at("distributed.overlap_backward").asBool();
  const auto threads = std::get<std::int64_t>(
      spec::toParamValue(tree.at("threads"), ParamType::kIntOrAuto, "threads"));
  options.threads = threads > 0 ? static_cast<int>(threads) : 0;
  options.seed = static_cast<std::uint64_t>(tree.at("seed").asInt());
  options.deterministic = tree.at("deterministic").asBool();
  options.output_dir = tree.at("output_dir").asString();

  options.train_images = bindImageSplit(tree, /*train=*/true);
  options.val_images = bindImageSplit(tree, /*train=*/false);
  options.synthetic_train = syntheticOptions(tree, /*train=*/true);
  options.synthetic_val = syntheticOptions(tree, /*train=*/false);
  if (data::hasAnnotations(tree.at("data.format").asString())) {
    options.labels = bindLabelSource(tree);
  } else {
    // The generated set has no files: `labrun predict` and `export` give
    // image files the generated images' form, not data.transforms.val's.
    const spec::Node& synthetic = tree.at("data.synthetic");
    std::vector<spec::Located<std::string>> steps;
    for (std::string& step : data::syntheticImageSteps(options.synthetic_val)) {
      steps.push_back({std::move(step), synthetic.origin().describe()});
    }
    options.val_images.transforms = data::TransformPipeline::parse(
        steps, "data.synthetic", synthetic.origin().describe());
  }
  options.batch_size = tree.at("data.batch_size").asInt();

  options.backbone = usePlugin(host, PluginKind::kBackbone,
                               tree.at("model.backbone"), "model.backbone");
  options.head =
      usePlugin(host, PluginKind::kHead, tree.at("model.head"), "model.head");
  options.memory_format =
      tree.at("model.memory_format").asString() == "channels_last"
          ? c10::MemoryFormat::ChannelsLast
          : c10::MemoryFormat::Contiguous;
  options.loss = usePlugin(host, PluginKind::kLoss, tree.at("loss"), "loss");
  options.metrics = metricUses(tree.at("metrics"), host);
  const spec::Node& init_from = tree.at("init_from");
  const spec::Node& init_modules = tree.at("init_modules");
  if (init_from.asString().empty() && !init_modules.items().empty()) {
    // Without a source, the prefixes would be ignored without a word.
    throw spec::SpecError(fmt::format(
        "{}: init_modules: takes module prefixes from init_from's checkpoint, "
        "and init_from is not set",
        init_modules.origin().describe()));
  }
  if (!init_from.asString().empty()) {
    InitFrom init{located(init_from), {}};
    for (const spec::Node& item : init_modules.items()) {
      init.modules.push_back(item.asString());
    }
    options.init_from = std::move(init);
  }
  options.optim = optimizerOptions(tree);
  options.trainer = trainerOptions(tree);
  options.watched = watchedKeys(tree);
  options.trainer.device = options.device;
  options.trainer.precision =
      parsePrecision(located(tree.at("train.precision")), options.device);
  if (options.trainer.precision == Precision::kFp16) {
    options.trainer.loss_scaling = LossScalerOptions{};
  }
  options.keep_last = tree.at("checkpoint.keep_last").asInt();
  return options;
}

}  // namespace labrun::train
