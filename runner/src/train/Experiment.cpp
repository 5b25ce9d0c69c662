#include "train/Experiment.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <signal.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <stdexcept>

#include "data/ImageLoader.h"
#include "data/LabelSet.h"
#include "data/LabelSource.h"
#include "data/SyntheticDataset.h"
#include "dist/Collective.h"
#include "dist/DistributedSampler.h"
#include "dist/WorldInfo.h"
#include "io/Npy.h"
#include "io/TorchCheckpoint.h"
#include "plugins/PluginError.h"
#include "spec/Schema.h"
#include "spec/SpecError.h"
#include "store/Heartbeat.h"
#include "train/CheckpointFile.h"
#include "train/ClassThresholds.h"
#include "train/ExperimentOptions.h"
#include "train/LabelSourceBinding.h"
#include "train/Optimizers.h"
#include "train/ScoresFile.h"
#include "train/Trainer.h"
#include "train/Transfer.h"
#include "util/Sha256.h"
#include "util/SysInfo.h"

namespace labrun::train {
namespace fs = std::filesystem;
namespace {

std::vector<store::ClassMetricRow> classMetricRows(
    std::int64_t epoch, const std::string& metric,
    const std::vector<std::string>& class_names, const MetricResult& result) {
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
  return rows;
}

// Records into the run store, keeping the time it takes.
class StoreRecorder : public RunRecorder {
 public:
  StoreRecorder(store::RunStore& store, std::string run, std::int64_t keep_last)
      : store_(store), run_(std::move(run)), keep_last_(keep_last) {}

  void metric(const std::string& key, std::int64_t step, std::int64_t epoch,
              double value) override {
    const Timed timed(seconds_);
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
    const Timed timed(seconds_);
    store_.addClassMetrics(run_,
                           classMetricRows(epoch, metric, class_names, result));
  }

  void checkpoint(std::int64_t step, std::int64_t epoch,
                  const std::string& path, std::optional<double> tracked,
                  bool best) override {
    const Timed timed(seconds_);
    store::CheckpointRow row;
    row.step = step;
    row.epoch = epoch;
    row.path = path;
    row.bytes = static_cast<std::int64_t>(fs::file_size(path));
    row.sha256 = util::sha256File(path);
    row.metric = tracked;
    row.best = best;
    store_.addCheckpoint(run_, row);
    if (keep_last_ > 0) removeOld();
  }

  void sync() override {
    const Timed timed(seconds_);
    store_.flush();
  }

  double seconds() const { return seconds_; }

 private:
  // Adds the time of its scope to `total`.
  class Timed {
   public:
    explicit Timed(double& total)
        : total_(total), start_(std::chrono::steady_clock::now()) {}
    ~Timed() {
      total_ += std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                              start_)
                    .count();
    }

   private:
    double& total_;
    std::chrono::steady_clock::time_point start_;
  };

  // Keeps the newest keep_last checkpoints and the best one.
  void removeOld() {
    for (const std::string& path : store_.checkpointsBeyond(run_, keep_last_)) {
      std::error_code ignored;
      fs::remove(path, ignored);
      store_.removeCheckpoint(run_, path);
    }
  }

  store::RunStore& store_;
  std::string run_;
  std::int64_t keep_last_;
  double seconds_ = 0;
};

// A rank other than 0 of a data-parallel run records nothing.
class NoRecorder : public RunRecorder {
 public:
  void metric(const std::string&, std::int64_t, std::int64_t, double) override {
  }
  void classMetric(std::int64_t, const std::string&,
                   const std::vector<std::string>&,
                   const MetricResult&) override {}
  void checkpoint(std::int64_t, std::int64_t, const std::string&,
                  std::optional<double>, bool) override {}
  void sync() override {}
};

// The newest checkpoint of `run` whose file is intact (sha256 as recorded).
struct StoredCheckpoint {
  std::string path;
  std::int64_t step = 0;
};

std::optional<StoredCheckpoint> newestIntactCheckpoint(
    const store::RunStore& store, const std::string& run,
    std::ostream& warnings) {
  for (const store::CheckpointRow& row : store.checkpoints(run)) {
    const auto problem = checkpointProblem(row);
    if (!problem) return StoredCheckpoint{row.path, row.step};
    warnings << "labrun: warning: checkpoint " << row.path << " " << *problem
             << "; trying an older one\n";
  }
  return std::nullopt;
}

// The splits' labels; bad data is a spec error (labelsOrSpecError), as
// is a class list that differs between them.
std::pair<data::LabelSet, data::LabelSet> loadSplitLabels(
    const data::LabelSourceOptions& labels, const spec::Node& tree,
    const std::string& spec_dir) {
  const auto load = [&](const char* split) {
    return labelsOrSpecError(
        [&] { return data::loadLabels(labels, split, spec_dir); });
  };
  data::LabelSet train = load("train");
  data::LabelSet val = load("val");
  if (train.class_names != val.class_names) {
    throw spec::SpecError(fmt::format(
        "{}: the train and val annotations give different classes ({} vs "
        "{}); set data.classes",
        tree.at("data").origin().describe(), train.class_names.size(),
        val.class_names.size()));
  }
  return {std::move(train), std::move(val)};
}

// What `make` builds of the plugin `use`; the plugin's own error (a
// weights file that is not there, a graph that does not fit) is a spec
// error located where the spec names the plugin.
template <typename Make>
auto built(const PluginUse& use, Make make) -> decltype(make()) {
  try {
    return make();
  } catch (const plugins::PluginError& failure) {
    throw spec::SpecError(use.where + ": " + failure.what());
  }
}

std::vector<NamedMetric> makeMetrics(const ExperimentOptions& options,
                                     const plugins::PluginHost& host,
                                     const ModelContext& context) {
  std::vector<NamedMetric> metrics;
  for (const PluginUse& metric : options.metrics) {
    const std::string& name = metric.plugin->name();
    metrics.push_back(
        {name,
         built(metric,
               [&] { return host.makeMetric(name, metric.params, context); }),
         metric.label});
  }
  return metrics;
}

// Throws spec::SpecError, naming where the spec wrote it and the keys there
// are, for a watched key that none of `metrics` records.
void checkWatched(const ExperimentOptions& options,
                  const std::vector<NamedMetric>& metrics) {
  const auto known = validationKeys(metrics, options.trainer.ema_decay > 0);
  if (!known) return;
  for (const WatchedKey& watched : options.watched) {
    const std::string& value = watched.value.value;
    if (std::find(known->begin(), known->end(), value) != known->end()) {
      continue;
    }
    const std::string suggestion = spec::nearest(value, *known);
    throw spec::SpecError(fmt::format(
        "{}: {}: unknown validation key '{}'; known: {}{}",
        watched.value.origin, watched.key, value, fmt::join(*known, ", "),
        suggestion.empty() ? "" : "; did you mean '" + suggestion + "'?"));
  }
}

std::string specDir(const ResolvedSpec& spec) {
  return fs::path(spec.path).parent_path().string();
}

// checkWatched with the metrics a run of these classes makes.
void checkWatchedFor(const ExperimentOptions& options,
                     const plugins::PluginHost& host, std::string spec_dir,
                     std::vector<std::string> class_names) {
  ModelContext context;
  context.spec_dir = std::move(spec_dir);
  context.num_classes = static_cast<std::int64_t>(class_names.size());
  context.class_names = std::move(class_names);
  checkWatched(options, makeMetrics(options, host, context));
}

}  // namespace

void checkWatchedKeys(const ResolvedSpec& spec,
                      const plugins::PluginHost& host) {
  const ExperimentOptions options = bindOptions(spec.tree, host);
  if (options.watched.empty()) return;
  const std::string dir = specDir(spec);
  checkWatchedFor(
      options, host, dir,
      options.labels
          ? loadSplitLabels(*options.labels, spec.tree, dir).first.class_names
          : data::syntheticClassNames(options.synthetic_train));
}

bool checkWatchedKeysWithoutData(const ResolvedSpec& spec,
                                 const ExperimentOptions& options,
                                 const plugins::PluginHost& host) {
  if (options.watched.empty()) return true;
  const std::string dir = specDir(spec);
  std::vector<std::string> class_names;
  if (!options.labels) {
    class_names = data::syntheticClassNames(options.synthetic_train);
  } else if (const auto declared = labelsOrSpecError(
                 [&] { return data::declaredClasses(*options.labels, dir); })) {
    class_names = declared->names();
  } else {
    return false;
  }
  checkWatchedFor(options, host, dir, std::move(class_names));
  return true;
}

struct Experiment::Parts {
  ExperimentOptions options;
  torch::Device device = torch::kCPU;
  data::TensorDataset train, val;
  std::unique_ptr<data::BatchSource> train_batches, val_batches;
  std::vector<const data::ImageLoader*> image_loaders;  // for bad images
  Model model{nullptr};
  std::shared_ptr<Loss> loss;
  std::vector<NamedMetric> metrics;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
};

Experiment::Experiment(ResolvedSpec spec, const plugins::PluginHost& host,
                       const std::string& db_path, ModelWeights weights)
    : spec_(std::move(spec)),
      host_(&host),
      parts_(std::make_unique<Parts>()),
      awaiting_checkpoint_(weights == ModelWeights::kCheckpoint) {
  const spec::Node& tree = spec_.tree;
  Parts& parts = *parts_;
  parts.options = bindOptions(tree, host);
  // `auto`: this process's share of the cores, split among the workers of
  // a data-parallel machine (their loaders' threads too).
  const int cores = dist::localShareOfCores();
  for (ImageSplit* split :
       {&parts.options.train_images, &parts.options.val_images}) {
    if (split->loader.workers == 0) split->loader.workers = cores;
  }
  const ExperimentOptions& options = parts.options;
  parts.device = options.device;
  torch::set_num_threads(options.threads > 0 ? options.threads : cores);
  torch::manual_seed(options.seed);

  ModelContext context;
  context.spec_dir = specDir(spec_);
  context.load_state_dict = io::loadStateDict;
  context.load_npy = io::readNpy;
  context.initial_weights = !awaiting_checkpoint_;
  if (options.labels) {
    auto [train, val] =
        loadSplitLabels(*options.labels, tree, context.spec_dir);
    context.class_names = train.class_names;
    // Ignored labels (mask 0) do not count as co-occurrences.
    context.train_targets = train.targets * train.mask;
    auto train_loader = std::make_unique<data::ImageLoader>(
        std::move(train), options.train_images.transforms,
        options.train_images.loader);
    auto val_loader = std::make_unique<data::ImageLoader>(
        std::move(val), options.val_images.transforms,
        options.val_images.loader);
    parts.image_loaders = {train_loader.get(), val_loader.get()};
    parts.train_batches = std::move(train_loader);
    parts.val_batches = std::move(val_loader);
  } else {
    parts.train = data::makeSyntheticDataset(options.synthetic_train);
    parts.val = data::makeSyntheticDataset(options.synthetic_val);
    parts.train_batches = std::make_unique<data::BatchIterator>(
        parts.train, options.batch_size, /*shuffle=*/true, options.seed);
    parts.val_batches = std::make_unique<data::BatchIterator>(
        parts.val, options.batch_size, /*shuffle=*/false, options.seed);
    context.class_names = parts.train.class_names;
    context.train_targets = parts.train.targets;
  }
  context.num_classes = static_cast<std::int64_t>(context.class_names.size());

  auto backbone = built(options.backbone, [&] {
    return host.makeBackbone(options.backbone.plugin->name(),
                             options.backbone.params, context);
  });
  context.in_channels = backbone->outChannels();
  auto head = built(options.head, [&] {
    return host.makeHead(options.head.plugin->name(), options.head.params,
                         context);
  });
  parts.model = Model(backbone, head);
  parts.model->to(parts.device);
  parts.loss = built(options.loss, [&] {
    return host.makeLoss(options.loss.plugin->name(), options.loss.params,
                         context);
  });
  parts.loss->to(parts.device);
  parts.metrics = makeMetrics(options, host, context);
  if (options.init_from && !awaiting_checkpoint_) {
    // Weights only: a new run with its own optimizer and schedule.
    const auto& source = options.init_from->source;
    try {
      const std::string path = initCheckpointPath(source.value, db_path);
      loadModules(*parts.model, CheckpointReader(path).modelState(),
                  options.init_from->modules, path);
    } catch (const std::runtime_error& error) {
      throw spec::SpecError(
          fmt::format("{}: init_from: {}", source.origin, error.what()));
    }
  }
  if (options.deterministic) {
    at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/false);
    at::globalContext().setDeterministicCuDNN(true);
    at::globalContext().setBenchmarkCuDNN(false);
  }
  // After init_from's copies, before the optimizer's state exists.
  parts.model->setMemoryFormat(options.memory_format);
  parts.optimizer = makeOptimizer(options.optim, parts.model);
}

Experiment::~Experiment() = default;

const ExperimentOptions& Experiment::options() const { return parts_->options; }

void Experiment::checkWatchedKeys() const {
  checkWatched(parts_->options, parts_->metrics);
}

void Experiment::joinGroup(dist::Collective& collective) {
  Parts& parts = *parts_;
  collective_ = &collective;
  parts.options.trainer.collective = &collective;
  if (parts.device.is_cuda() && !parts.device.has_index()) {
    // One GPU per local rank ("cuda" alone would put them all on GPU 0).
    parts.device = torch::Device(torch::kCUDA, collective.localRank());
    parts.model->to(parts.device);
    parts.loss->to(parts.device);
    parts.options.trainer.device = parts.device;
  }
  const dist::DistributedSampler sampler(collective.rank(),
                                         collective.worldSize());
  parts.train_batches->setSampler(sampler);
  parts.val_batches->setSampler(sampler);
  // Same initial weights everywhere (init_from, random init alike).
  std::vector<torch::Tensor> state = parts.model->parameters();
  for (const auto& buffer : parts.model->buffers()) state.push_back(buffer);
  collective.broadcast(state);
}

RunOutcome Experiment::follow(const RunControls& controls, std::ostream& log) {
  const std::string uuid = collective_->fetch("run");
  const std::string resume_from = collective_->fetch("resume_from");
  std::unique_ptr<CheckpointReader> reader;
  try {
    if (!resume_from.empty()) {
      reader = std::make_unique<CheckpointReader>(resume_from);
    }
  } catch (const std::exception& unreadable) {
    // Reported as a failed run, as one failing later in training is, so
    // that the launcher hears why.
    RunOutcome outcome;
    outcome.uuid = uuid;
    outcome.status = "FAILED";
    outcome.error = unreadable.what();
    return outcome;
  }
  return train(nullptr, uuid, std::move(reader), controls, log);
}

RunOutcome Experiment::run(store::RunStore& store, const RunControls& controls,
                           std::ostream& log) {
  if (parts_->options.trainer.save_checkpoints) {
    requireWritableFolder(parts_->options.output_dir);
  }
  const std::string uuid = recordRun(store, controls, "train", log);
  return train(&store, uuid, /*resume_from=*/nullptr, controls, log);
}

void Experiment::requireWritableFolder(const fs::path& folder) const {
  const fs::path dir = fs::absolute(folder);
  std::error_code error;
  fs::create_directories(dir, error);
  if (!error && ::access(dir.c_str(), W_OK) != 0) {
    error = std::error_code(errno, std::generic_category());
  }
  if (error) {
    throw spec::SpecError(
        fmt::format("{}: output_dir: cannot write checkpoints into {}: {}",
                    spec_.tree.at("output_dir").origin().describe(),
                    dir.string(), error.message()));
  }
}

std::string Experiment::recordRun(store::RunStore& store,
                                  const RunControls& controls,
                                  const std::string& kind, std::ostream& log) {
  Parts& parts = *parts_;
  store::RunInfo info;
  info.name = spec_.recorded.at("name").asString();
  if (info.name.empty()) info.name = fs::path(spec_.path).stem().string();
  if (!controls.sweep_label.empty()) {
    info.name += "[" + controls.sweep_label + "]";
  }
  info.spec_yaml = spec_.yaml;
  info.spec_hash = util::sha256Hex(spec_.yaml);
  info.spec_path = spec_.path;
  info.seed = static_cast<std::int64_t>(parts.options.seed);
  info.host = util::hostName();
  info.device = parts.device.str();
  const util::GitState git =
      util::gitState(fs::absolute(spec_.path).parent_path().string());
  info.git_commit = git.commit;
  info.git_dirty = git.dirty;
  info.labrun_version = LABRUN_VERSION;
  info.torch_version = util::torchVersion();
  info.opencv_version = util::opencvVersion();
  info.command_line = controls.command_line;
  info.pid = ::getpid();
  info.sweep = controls.sweep;
  info.world_size = collective_ ? collective_->worldSize() : 1;
  info.kind = kind;

  // The parameters as used and typed, so that SQL compares them: a number
  // or boolean from the environment (${env:LR,0.01}) is its value, as no
  // secret is; any other value from it stays ${env:...}, as in spec_yaml.
  std::map<std::string, spec::FlatParam> typed_values;
  for (auto& flat : spec::flatten(spec_.tree)) {
    if (flat.type == "int" || flat.type == "float" || flat.type == "bool") {
      typed_values.emplace(flat.key, std::move(flat));
    }
  }
  std::vector<store::ParamRow> params;
  for (const auto& recorded : spec::flatten(spec_.recorded)) {
    const auto typed = typed_values.find(recorded.key);
    const spec::FlatParam& flat =
        typed != typed_values.end() ? typed->second : recorded;
    params.push_back({flat.key, flat.type, flat.value});
  }
  std::vector<store::PluginRow> plugin_rows;
  std::vector<const PluginUse*> used = {
      &parts.options.backbone, &parts.options.head, &parts.options.loss};
  for (const PluginUse& metric : parts.options.metrics) used.push_back(&metric);
  for (const PluginUse* use : used) {
    const auto* d = use->plugin->descriptor;
    plugin_rows.push_back({d->name, pluginKindName(d->kind), d->version,
                           use->plugin->file,
                           util::sha256File(use->plugin->file)});
  }
  const std::string uuid = store.createRun(info, params, plugin_rows);
  log << fmt::format("{}run {} ({}) on {}, {} threads",
                     kind == "eval" ? "evaluation-only " : "", uuid, info.name,
                     info.device, torch::get_num_threads());
  const Precision precision = parts.options.trainer.precision;
  if (kind != "eval" && precision != Precision::kFp32) {
    log << ", " << precisionName(precision);
  }
  if (parts.options.memory_format == c10::MemoryFormat::ChannelsLast) {
    log << ", channels_last";
  }
  if (collective_) {
    log << fmt::format(" x {} processes ({})", info.world_size,
                       parts.options.group.backend);
  }
  log << "\n";
  return uuid;
}

RunOutcome Experiment::resume(store::RunStore& store, const std::string& uuid,
                              const RunControls& controls, std::ostream& log) {
  // A run whose process is known to be gone (same host; no such pid, or
  // the pid reused by another program) need not wait for its heartbeat to
  // go stale.
  const auto owner = store.runProcess(uuid);
  bool gone = false;
  if (owner.host && *owner.host == util::hostName() && owner.pid) {
    const auto program = util::processProgram(*owner.pid);
    gone = (::kill(static_cast<pid_t>(*owner.pid), 0) != 0 && errno == ESRCH) ||
           (program && program->rfind("labrun", 0) != 0);
    // Alive, however old its heartbeat: stopped (Ctrl-Z, SIGSTOP) or hung,
    // it would go on writing the run when it wakes. Not a process that
    // started after its claim (the run's start for the first one, else at
    // the latest its last heartbeat): the pid reused, by a new container's
    // pid 1 or by this very process.
    const auto started = util::processStartTime(*owner.pid);
    const double claimed_by =
        owner.claim == 0 ? owner.started_at : owner.heartbeat_at;
    if (!gone && program && owner.status == "RUNNING" &&
        *owner.pid != ::getpid() && started && *started <= claimed_by) {
      throw spec::SpecError(fmt::format(
          "run {} ({}) is still being trained by process {} on this host "
          "(stopped or hung?); end it first (kill {}), then resume",
          store.runHeader(uuid).name, uuid, *owner.pid, *owner.pid));
    }
  }
  // Checked before the run is claimed, so that a refusal changes nothing;
  // the files passed over are warnings (stderr).
  const auto checkpoint = newestIntactCheckpoint(store, uuid, std::cerr);
  const std::size_t recorded = store.checkpoints(uuid).size();
  if (!checkpoint && recorded > 0 && !controls.restart) {
    // A moved folder or an unmounted disk must not erase the run.
    throw spec::SpecError(fmt::format(
        "run {} ({}) recorded {} checkpoint(s) and none is intact (see the "
        "warnings above); resuming would start it over and drop its recorded "
        "metrics and checkpoints. Put the files back, or start over with: "
        "labrun resume {} --restart",
        store.runHeader(uuid).name, uuid, recorded, uuid));
  }
  if (parts_->options.trainer.save_checkpoints) {
    requireWritableFolder(checkpoint ? fs::path(checkpoint->path).parent_path()
                                     : fs::path(parts_->options.output_dir));
  }
  // Only the process found gone is passed over: of two resumes at once, the
  // second finds the first's claim and is refused.
  store.reopenRun(
      uuid, store::RunStore::kStaleHeartbeatS, ::getpid(), util::hostName(),
      gone ? std::optional<std::int64_t>(owner.claim) : std::nullopt);
  std::unique_ptr<CheckpointReader> from;
  if (checkpoint) {
    // Read once: the trainer restores from this reader.
    from = std::make_unique<CheckpointReader>(checkpoint->path);
    // The epochs before the one in progress are complete.
    const std::int64_t completed = from->state().epoch - 1;
    for (const auto& path :
         store.truncateAfter(uuid, checkpoint->step, completed)) {
      std::error_code ignored;
      fs::remove(path, ignored);
    }
    log << fmt::format("resuming run {} from {} (step {})\n", uuid,
                       checkpoint->path, checkpoint->step);
  } else {
    store.truncateAfter(uuid, /*step=*/0, /*completed_epochs=*/0);
    log << fmt::format("run {} has no intact checkpoint; starting over\n",
                       uuid);
  }
  return train(&store, uuid, std::move(from), controls, log);
}

RunOutcome Experiment::train(store::RunStore* store, const std::string& uuid,
                             std::unique_ptr<CheckpointReader> resume_from,
                             const RunControls& controls, std::ostream& log) {
  // A resumed run's weights are the checkpoint's.
  if (!resume_from) requireWeights("training");
  Parts& parts = *parts_;
  if (collective_ && store) {
    collective_->publish("run", uuid);
    // The launcher may end the run if this rank dies: only while it is this
    // claim's.
    collective_->publish("claim", std::to_string(*store->claimOf(uuid)));
    collective_->publish("resume_from", resume_from ? resume_from->path() : "");
  }
  TrainerOptions options = parts.options.trainer;
  // Rank 0 alone writes checkpoints (and the store).
  options.save_checkpoints = options.save_checkpoints && store;
  options.checkpoint_dir =
      resume_from ? fs::path(resume_from->path()).parent_path().string()
                  : fs::weakly_canonical(
                        fs::absolute(fs::path(parts.options.output_dir) / uuid))
                        .string();
  if (store) {
    // The store says no process is writing this run now.
    if (const std::size_t left =
            removeUnfinishedCheckpoints(options.checkpoint_dir)) {
      log << fmt::format(
          "removed {} unfinished checkpoint file(s) that a killed run left "
          "in {}\n",
          left, options.checkpoint_dir);
    }
  }
  options.quiet = controls.quiet;
  options.terminal = controls.terminal;
  if (controls.log_every >= 0) options.log_every = controls.log_every;
  NoRecorder no_recorder;
  std::optional<StoreRecorder> store_recorder;
  std::optional<store::Heartbeat> heartbeat;
  if (store) {
    store_recorder.emplace(*store, uuid, parts.options.keep_last);
    heartbeat.emplace(controls.db_path, uuid, store->claimOf(uuid));
  }
  RunRecorder& recorder =
      store_recorder ? static_cast<RunRecorder&>(*store_recorder) : no_recorder;
  RunOutcome outcome;
  outcome.uuid = uuid;
  try {
    Trainer trainer(parts.model, parts.loss, parts.metrics,
                    std::move(parts.optimizer), options, recorder, log);
    const FitEnd end = trainer.fit(*parts.train_batches, *parts.val_batches,
                                   std::move(resume_from));
    outcome.status = end == FitEnd::kFinished ? "FINISHED" : "KILLED";
    if (end == FitEnd::kStopped) outcome.error = trainer.stopReason();
  } catch (const std::exception& failure) {
    outcome.status = "FAILED";
    outcome.error = failure.what();
  }
  if (store) {
    finishRun(*store, outcome);
    outcome.recording_seconds = store_recorder->seconds();
  }
  return outcome;
}

void Experiment::finishRun(store::RunStore& store,
                           const RunOutcome& outcome) const {
  std::int64_t bad_images = 0;
  for (const auto* loader : parts_->image_loaders) {
    bad_images += static_cast<std::int64_t>(loader->badImages().size());
  }
  if (bad_images > 0) store.setBadImages(outcome.uuid, bad_images);
  store.finishRun(outcome.uuid, outcome.status, outcome.error);
}

void Experiment::loadCheckpoint(const std::string& path) {
  try {
    // All or nothing: every parameter and buffer is the file's after this.
    CheckpointReader(path).loadModel(*parts_->model);
  } catch (const CheckpointError& unusable) {
    throw spec::SpecError(unusable.what());
  }
  awaiting_checkpoint_ = false;
}

void Experiment::requireWeights(const char* use) const {
  if (awaiting_checkpoint_) {
    throw std::logic_error(fmt::format(
        "Experiment: {} before a checkpoint is loaded into a model built "
        "without its initial weights",
        use));
  }
}

const std::vector<std::string>& Experiment::classNames() const {
  return parts_->val_batches->classNames();
}

const ModelImpl& Experiment::model() const {
  requireWeights("model()");
  return *parts_->model;
}

Predictions Experiment::predict(const std::vector<std::string>& images,
                                const PredictProgress& progress) {
  requireWeights("predict");
  return predictImages(
      parts_->model, parts_->device, parts_->options.val_images,
      static_cast<std::int64_t>(classNames().size()), images, progress);
}

std::int64_t Experiment::evaluate(store::RunStore& store,
                                  const std::string& uuid,
                                  const EvalRequest& request,
                                  std::ostream& log) {
  loadCheckpoint(request.checkpoint);
  return recordEvaluation(store, uuid, request.checkpoint,
                          util::sha256File(request.checkpoint), request, log);
}

EvalOutcome Experiment::evaluateInitial(store::RunStore& store,
                                        const RunControls& controls,
                                        const EvalRequest& request,
                                        std::ostream& log) {
  requireWeights("evaluateInitial");
  EvalOutcome outcome;
  outcome.run.uuid = recordRun(store, controls, "eval", log);
  // A whole validation set (COCO's 40k images) takes a while: the heartbeat
  // keeps the run from showing as CRASHED meanwhile.
  const store::Heartbeat heartbeat(controls.db_path, outcome.run.uuid,
                                   store.claimOf(outcome.run.uuid));
  try {
    outcome.evaluation = recordEvaluation(store, outcome.run.uuid, "init",
                                          /*sha256=*/"", request, log);
    outcome.run.status = "FINISHED";
  } catch (const std::exception& failure) {
    outcome.run.status = "FAILED";
    outcome.run.error = failure.what();
  }
  finishRun(store, outcome.run);
  return outcome;
}

std::int64_t Experiment::recordEvaluation(store::RunStore& store,
                                          const std::string& uuid,
                                          const std::string& checkpoint,
                                          const std::string& sha256,
                                          const EvalRequest& request,
                                          std::ostream& log) {
  Parts& parts = *parts_;
  const auto& class_names = parts.val_batches->classNames();
  // Looked up before the evaluation, which takes a while, can fail on them.
  std::vector<std::optional<double>> stored;
  if (request.thresholds == "stored") {
    const auto newest = runThresholds(store, uuid, class_names.size());
    if (!newest) {
      throw spec::SpecError(fmt::format(
          "--thresholds stored: run {} has no evaluation with per-class "
          "thresholds; choose them first with labrun eval --thresholds f1",
          uuid));
    }
    stored = newest->logits;
  }
  const EvalResult result =
      evaluateModel(parts.model, *parts.loss, parts.metrics, *parts.val_batches,
                    parts.device, /*max_batches=*/-1,
                    /*collect_scores=*/!request.scores_path.empty() ||
                        !request.thresholds.empty());
  store::RunStore::Evaluation evaluation;
  evaluation.checkpoint = checkpoint;
  evaluation.checkpoint_sha256 = sha256;
  evaluation.split = "val";
  evaluation.scores_path = request.scores_path;
  evaluation.metrics.emplace_back("loss", result.loss);
  std::string line = fmt::format(
      "{}: loss {:.4f}", checkpoint == "init" ? "initial weights" : checkpoint,
      result.loss);
  for (const auto& [name, metric] : result.metrics) {
    for (const auto& [key, value] : metric.scalars) {
      evaluation.metrics.emplace_back(key, value);
      line += fmt::format(" {} {:.2f}", key, value);
    }
    const auto rows = classMetricRows(/*epoch=*/0, metric.per_class_name,
                                      class_names, metric);
    evaluation.class_metrics.insert(evaluation.class_metrics.end(),
                                    rows.begin(), rows.end());
    for (const auto& note : metric.notes) line += " (" + note + ")";
  }
  if (!request.thresholds.empty()) {
    const auto thresholds =
        request.thresholds == "f1"
            ? chooseF1Thresholds(result.logits, result.targets, result.mask)
            : stored;
    // A class without a threshold is predicted at probability 0.5, as
    // `labrun predict` does by default.
    const MetricResult at =
        prfAtThresholds(*host_, thresholds, /*fallback=*/0.0, result.logits,
                        result.targets, result.mask, class_names);
    for (const auto& [key, value] : at.scalars) {
      evaluation.metrics.emplace_back(key + "@thresholds", value);
      line += fmt::format(" {}@thresholds {:.2f}", key, value);
    }
    for (std::size_t k = 0; k < thresholds.size(); ++k) {
      store::ClassThresholdRow row;
      row.class_index = static_cast<std::int64_t>(k);
      row.class_name = class_names[k];
      row.logit = thresholds[k];
      if (!std::isnan(at.per_class[k])) row.f1 = at.per_class[k];
      evaluation.thresholds.push_back(row);
    }
  }
  if (!request.scores_path.empty()) {
    ScoresTable table;
    table.class_names = class_names;
    table.samples.assign(
        result.samples.data_ptr<std::int64_t>(),
        result.samples.data_ptr<std::int64_t>() + result.samples.numel());
    for (const std::int64_t sample : table.samples) {
      table.images.push_back(parts.val_batches->sampleName(sample));
    }
    table.logits = result.logits;
    table.targets = result.targets;
    table.mask = result.mask;
    writeScores(request.scores_path, table,
                {/*truth=*/request.scores_truth,
                 /*logits=*/request.scores_logits});
  }
  log << line << "\n";
  return store.addEvaluation(uuid, evaluation);
}

}  // namespace labrun::train
