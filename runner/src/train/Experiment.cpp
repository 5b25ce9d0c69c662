#include "train/Experiment.h"

#include <torch/torch.h>

#include <filesystem>
#include <thread>

#include <fmt/format.h>

#include "data/SyntheticDataset.h"
#include "spec/Schema.h"
#include "spec/SpecError.h"
#include "spec/SpecLoader.h"
#include "train/CoreSchema.h"
#include "train/Trainer.h"
#include "util/Sha256.h"
#include "util/SysInfo.h"

namespace labrun::train {
namespace fs = std::filesystem;
namespace {

struct UsedPlugin {
  const plugins::LoadedPlugin* plugin;
  Params params;
};

// Resolves the plugin named in a slot map and its typed parameters.
UsedPlugin usePlugin(const plugins::PluginHost& host, PluginKind kind,
                     const spec::Node& slot) {
  const plugins::LoadedPlugin& plugin =
      host.find(kind, slot.at("name").asString());
  return {&plugin, spec::pluginParams(slot, plugin.params())};
}

std::int64_t atLeast(const spec::Node& tree, const std::string& key,
                     std::int64_t minimum) {
  const spec::Node& node = tree.at(key);
  const std::int64_t value = node.asInt();
  if (value < minimum) {
    throw spec::SpecError(fmt::format("{}: {}: expected an integer >= {}, "
                                      "found {}",
                                      node.origin().describe(), key, minimum,
                                      value));
  }
  return value;
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

data::TensorDataset makeData(const spec::Node& tree, bool train) {
  // data.format has one choice until the dataset formats land.
  data::SyntheticOptions options;
  options.num_classes = tree.at("data.synthetic.num_classes").asInt();
  options.image_size = tree.at("data.synthetic.image_size").asInt();
  options.size = tree.at(train ? "data.synthetic.train_size"
                               : "data.synthetic.val_size")
                     .asInt();
  options.seed = static_cast<std::uint64_t>(
      tree.at("data.synthetic.seed").asInt() + (train ? 0 : 1));
  try {
    return data::makeSyntheticDataset(options);
  } catch (const std::invalid_argument& bad) {
    throw spec::SpecError(fmt::format(
        "{}: {}", tree.at("data.synthetic").origin().describe(), bad.what()));
  }
}

std::unique_ptr<torch::optim::Optimizer> makeOptimizer(const spec::Node& tree,
                                                       Model& model) {
  const std::string name = tree.at("optim.name").asString();
  const double lr = tree.at("optim.lr").asDouble();
  const double weight_decay = tree.at("optim.weight_decay").asDouble();
  if (name == "sgd") {
    return std::make_unique<torch::optim::SGD>(
        model->parameters(),
        torch::optim::SGDOptions(lr)
            .momentum(tree.at("optim.momentum").asDouble())
            .nesterov(tree.at("optim.nesterov").asBool())
            .weight_decay(weight_decay));
  }
  return std::make_unique<torch::optim::Adam>(
      model->parameters(),
      torch::optim::AdamOptions(lr).weight_decay(weight_decay));
}

class StoreRecorder : public RunRecorder {
 public:
  StoreRecorder(store::RunStore& store, std::string run)
      : store_(store), run_(std::move(run)) {}

  void metric(const std::string& key, std::int64_t step, std::int64_t epoch,
              double value) override {
    store::MetricRow row;
    row.key = key;
    row.step = step;
    row.epoch = epoch;
    row.value = value;
    row.time = std::chrono::duration<double>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    store_.logMetric(run_, row);
  }

  void classMetric(std::int64_t epoch, const std::string& metric,
                   const std::vector<std::string>& class_names,
                   const MetricResult& result) override {
    std::vector<store::ClassMetricRow> rows;
    for (std::size_t k = 0; k < result.per_class.size(); ++k) {
      store::ClassMetricRow row;
      row.epoch = epoch;
      row.metric = metric;
      row.class_index = static_cast<std::int64_t>(k);
      row.class_name = k < class_names.size() ? class_names[k] : "";
      if (!std::isnan(result.per_class[k])) row.value = result.per_class[k];
      row.positives = k < result.positives.size() ? result.positives[k] : 0;
      rows.push_back(row);
    }
    store_.addClassMetrics(run_, rows);
  }

  void checkpoint(std::int64_t step, std::int64_t epoch,
                  const std::string& path, std::optional<double> tracked,
                  bool best) override {
    store::CheckpointRow row;
    row.step = step;
    row.epoch = epoch;
    row.path = path;
    row.bytes = static_cast<std::int64_t>(fs::file_size(path));
    row.sha256 = util::sha256File(path);
    row.metric = tracked;
    row.best = best;
    store_.addCheckpoint(run_, row);
  }

  void sync() override { store_.flush(); }

 private:
  store::RunStore& store_;
  std::string run_;
};

}  // namespace

ResolvedSpec resolveSpec(const std::string& path,
                         const std::vector<std::string>& overrides,
                         const plugins::PluginHost& host) {
  ResolvedSpec resolved;
  resolved.path = path;
  resolved.tree = spec::loadSpecFile(path);
  spec::applyOverrides(resolved.tree, overrides);
  spec::resolveInterpolations(resolved.tree);
  spec::validate(resolved.tree, coreSchema(),
                 [&host](PluginKind kind, const std::string& name) {
                   return host.find(kind, name).params();
                 });
  resolved.yaml = spec::toYaml(resolved.tree);
  return resolved;
}

struct Experiment::Parts {
  torch::Device device = torch::kCPU;
  data::TensorDataset train, val;
  std::unique_ptr<data::BatchSource> train_batches, val_batches;
  std::vector<UsedPlugin> used;  // backbone, head, loss, metrics...
  Model model{nullptr};
  std::shared_ptr<Loss> loss;
  std::vector<NamedMetric> metrics;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  TrainerOptions options;
};

Experiment::Experiment(ResolvedSpec spec, const plugins::PluginHost& host)
    : spec_(std::move(spec)), parts_(std::make_unique<Parts>()) {
  const spec::Node& tree = spec_.tree;
  Parts& parts = *parts_;
  parts.device = parseDevice(tree.at("device"));
  // Debian's LibTorch defaults to one thread; auto (-1) uses every core.
  const auto threads = std::get<std::int64_t>(spec::toParamValue(
      tree.at("threads"), ParamType::kIntOrAuto, "threads"));
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  torch::set_num_threads(threads > 0 ? static_cast<int>(threads)
                                     : std::max(1, cores));
  torch::manual_seed(static_cast<std::uint64_t>(tree.at("seed").asInt()));

  parts.train = makeData(tree, /*train=*/true);
  parts.val = makeData(tree, /*train=*/false);
  const std::int64_t batch_size = atLeast(tree, "data.batch_size", 1);
  const auto seed = static_cast<std::uint64_t>(tree.at("seed").asInt());
  parts.train_batches = std::make_unique<data::BatchIterator>(
      parts.train, batch_size, /*shuffle=*/true, seed);
  parts.val_batches = std::make_unique<data::BatchIterator>(
      parts.val, batch_size, /*shuffle=*/false, seed);

  ModelContext context;
  context.num_classes = parts.train.numClasses();
  context.class_names = parts.train.class_names;
  context.spec_dir = fs::path(spec_.path).parent_path().string();

  const UsedPlugin backbone =
      usePlugin(host, PluginKind::kBackbone, tree.at("model.backbone"));
  auto backbone_object =
      host.makeBackbone(backbone.plugin->name(), backbone.params, context);
  context.in_channels = backbone_object->outChannels();
  const UsedPlugin head =
      usePlugin(host, PluginKind::kHead, tree.at("model.head"));
  auto head_object = host.makeHead(head.plugin->name(), head.params, context);
  parts.model = Model(backbone_object, head_object);
  parts.model->to(parts.device);

  const UsedPlugin loss = usePlugin(host, PluginKind::kLoss, tree.at("loss"));
  parts.loss = host.makeLoss(loss.plugin->name(), loss.params, context);
  parts.loss->to(parts.device);
  parts.used = {backbone, head, loss};
  for (const spec::Node& slot : tree.at("metrics").items()) {
    const UsedPlugin metric = usePlugin(host, PluginKind::kMetric, slot);
    parts.metrics.push_back(
        {metric.plugin->name(),
         host.makeMetric(metric.plugin->name(), metric.params, context)});
    parts.used.push_back(metric);
  }
  parts.optimizer = makeOptimizer(tree, parts.model);

  parts.options.epochs = atLeast(tree, "train.epochs", 0);
  parts.options.log_every = atLeast(tree, "train.log_every", 0);
  parts.options.save_checkpoints = tree.at("checkpoint.enabled").asBool();
  parts.options.device = parts.device;
}

Experiment::~Experiment() = default;

RunOutcome Experiment::run(store::RunStore& store,
                           const std::string& command_line,
                           std::ostream& log) {
  const spec::Node& tree = spec_.tree;
  Parts& parts = *parts_;
  store::RunInfo info;
  info.name = tree.at("name").asString();
  if (info.name.empty()) info.name = fs::path(spec_.path).stem().string();
  info.spec_yaml = spec_.yaml;
  info.spec_hash = util::sha256Hex(spec_.yaml);
  info.spec_path = spec_.path;
  info.seed = tree.at("seed").asInt();
  info.host = util::hostName();
  info.device = parts.device.str();
  const util::GitState git = util::gitState(
      fs::absolute(spec_.path).parent_path().string());
  info.git_commit = git.commit;
  info.git_dirty = git.dirty;
  info.labrun_version = LABRUN_VERSION;
  info.torch_version = util::torchVersion();
  info.opencv_version = util::opencvVersion();
  info.command_line = command_line;

  RunOutcome outcome;
  outcome.uuid = store.createRun(info);
  std::vector<store::ParamRow> params;
  for (const auto& flat : spec::flatten(tree)) {
    params.push_back({flat.key, flat.type, flat.value});
  }
  store.addParams(outcome.uuid, params);
  std::vector<store::PluginRow> plugin_rows;
  for (const auto& used : parts.used) {
    const auto* d = used.plugin->descriptor;
    plugin_rows.push_back({d->name, pluginKindName(d->kind), d->version,
                           used.plugin->file,
                           util::sha256File(used.plugin->file)});
  }
  store.addPlugins(outcome.uuid, plugin_rows);
  log << fmt::format("run {} ({}) on {}, {} threads\n", outcome.uuid,
                     info.name, info.device, torch::get_num_threads());

  TrainerOptions options = parts.options;
  options.checkpoint_dir =
      (fs::path(tree.at("output_dir").asString()) / outcome.uuid).string();
  StoreRecorder recorder(store, outcome.uuid);
  try {
    Trainer trainer(parts.model, parts.loss, parts.metrics,
                    std::move(parts.optimizer), options, recorder, log);
    trainer.fit(*parts.train_batches, *parts.val_batches);
    outcome.status = "FINISHED";
  } catch (const std::exception& failure) {
    outcome.status = "FAILED";
    outcome.error = failure.what();
  }
  store.finishRun(outcome.uuid, outcome.status, outcome.error);
  return outcome;
}

}  // namespace labrun::train
