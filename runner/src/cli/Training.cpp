#include "cli/Training.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "cli/StoreAccess.h"
#include "spec/SpecError.h"
#include "train/CheckpointFile.h"
#include "util/Sha256.h"

namespace labrun::cli {
namespace fs = std::filesystem;

plugins::PluginHost loadPlugins(const GlobalOptions& global) {
  plugins::PluginHost host;
  host.loadDirectories(plugins::PluginHost::searchPath(global.plugin_path));
  for (const auto& problem : host.problems()) {
    std::cerr << "labrun: warning: " << problem << "\n";
  }
  return host;
}

train::RunControls runControls(const GlobalOptions& global,
                               const ProgressArgs& progress) {
  train::RunControls controls;
  controls.db_path = global.db;
  controls.command_line = global.command_line;
  controls.quiet = progress.quiet;
  controls.terminal = ::isatty(STDOUT_FILENO) != 0;
  controls.log_every = progress.log_every;
  // Set by `labrun sweep` for the runs it starts.
  const char* sweep = std::getenv("LABRUN_SWEEP_ID");
  controls.sweep = sweep ? sweep : "";
  const char* label = std::getenv("LABRUN_SWEEP_LABEL");
  controls.sweep_label = label ? label : "";
  return controls;
}

int reportOutcome(const train::RunOutcome& outcome, const std::string& db) {
  if (outcome.status != "FINISHED") {
    std::cerr << fmt::format("labrun: run {} {}: {}\n", outcome.uuid,
                             outcome.status, outcome.error);
    if (outcome.status == "KILLED") {
      std::cerr << fmt::format("labrun: continue it with: labrun resume {}\n",
                               outcome.uuid);
    }
    return kRunFailed;
  }
  std::cout << fmt::format("run {} finished; store: {}\n", outcome.uuid, db);
  return kOk;
}

train::ResolvedSpec storedSpec(const store::RunStore& store,
                               const std::string& uuid,
                               const plugins::PluginHost& host) {
  const auto spec = store.runSpec(uuid);
  return train::resolveStoredSpec(spec.yaml, "run " + uuid + " spec", spec.path,
                                  host.schemaLookup());
}

namespace {

// The run that recorded checkpoint `file` (canonical): the one that
// recorded that path, else one that recorded its content, so that a copy
// is still its run's (`preferred` when it is one of those, as identical
// checkpoints are, else the oldest); nullopt for a file the store never
// recorded. The file is hashed only when a recorded checkpoint has its
// size.
std::optional<std::string> checkpointRun(const store::RunStore& store,
                                         const std::string& file,
                                         const std::string& preferred = "") {
  if (auto owner = store.checkpointOwner(file)) return owner;
  const auto candidates = store.checkpointsOfSize(
      static_cast<std::int64_t>(std::filesystem::file_size(file)));
  if (candidates.empty()) return std::nullopt;
  const std::string sha256 = util::sha256File(file);
  std::optional<std::string> found;
  for (const auto& candidate : candidates) {
    if (candidate.sha256 != sha256) continue;
    if (candidate.run == preferred) return preferred;
    if (!found) found = candidate.run;
  }
  return found;
}

}  // namespace

CommandTarget resolveTarget(const GlobalOptions& global,
                            const TargetRequest& request,
                            const plugins::PluginHost& host) {
  CommandTarget resolved;
  const bool spec_file =
      !request.runs_only && std::filesystem::is_regular_file(request.target);
  resolved.checkpoint = !request.checkpoint.empty() ? request.checkpoint
                        : spec_file                 ? "init"
                                                    : "best";
  const std::string& checkpoint = resolved.checkpoint;
  const std::string prefix = fmt::format(
      "{} {}: --checkpoint {}", request.command, request.target, checkpoint);
  const bool stored = checkpoint == "best" || checkpoint == "last";
  const char* const choices =
      spec_file ? "a spec file takes init or a checkpoint file"
                : "a run takes best, last or a checkpoint file";
  if (spec_file ? stored : checkpoint == "init") {
    throw spec::SpecError(fmt::format(
        "{}: {} (init: a spec's initial weights; best, last: a run's)", prefix,
        choices));
  }
  if (!stored && checkpoint != "init") {
    if (!std::filesystem::is_regular_file(checkpoint)) {
      throw spec::SpecError(
          fmt::format("{}: {} ({})", prefix,
                      std::filesystem::is_directory(checkpoint)
                          ? "a folder, not a checkpoint file"
                          : "no such file",
                      choices));
    }
    // Recorded as the file, not as the spelling that named it.
    resolved.checkpoint_file = std::filesystem::canonical(checkpoint).string();
  }
  if (spec_file) {
    resolved.spec = train::resolveSpec(request.target, request.overrides,
                                       host.schemaLookup());
    // Reading only: a spec's initial weights need no store, and nothing
    // is created before the spec has proved sound.
    if (checkpoint != "init" && std::filesystem::exists(global.db)) {
      resolved.run =
          checkpointRun(*openExistingStore(global), resolved.checkpoint_file);
    }
    return resolved;
  }
  if (!request.overrides.empty()) {
    throw spec::SpecError(fmt::format(
        "{} {}: overrides go with a spec file, not a run reference, which "
        "keeps its recorded spec (`labrun {} SPEC OVERRIDES --checkpoint "
        "FILE` applies them to one of the run's checkpoints)",
        request.command, request.target, request.command));
  }
  // A spec file's name that names no file is said to be one, not only an
  // unknown run.
  const std::string extension =
      std::filesystem::path(request.target).extension().string();
  const bool spec_name =
      !request.runs_only && (extension == ".yaml" || extension == ".yml");
  const auto no_spec_file = [&] {
    return spec::SpecError(
        fmt::format("{} {}: no such spec file (nor a run of that name in {})",
                    request.command, request.target, global.db));
  };
  if (spec_name && !std::filesystem::exists(global.db)) throw no_spec_file();
  const auto store = openExistingStore(global);
  std::string uuid;
  try {
    uuid = store->resolveRun(request.target, /*prefer_trained=*/true);
  } catch (const store::StoreError&) {
    if (spec_name) throw no_spec_file();
    throw;
  }
  const std::optional<store::CheckpointRow> recorded =
      stored ? store->pickCheckpoint(
                   uuid, checkpoint == "best"
                             ? store::RunStore::CheckpointPick::kBest
                             : store::RunStore::CheckpointPick::kNewest)
             : std::nullopt;
  if (stored && !recorded) {
    throw spec::SpecError(fmt::format(
        "{}: run {} ({}) has no {} checkpoint (it ran with "
        "checkpoint.enabled: false, ended before its first checkpoint, or "
        "only evaluated); give one with --checkpoint FILE",
        prefix, store->runHeader(uuid).name, uuid, checkpoint));
  }
  if (recorded) {
    // Results of a damaged model must not be recorded as the run's.
    if (const auto problem = train::checkpointProblem(*recorded)) {
      throw spec::SpecError(fmt::format(
          "{}: run {} recorded {} but it {}; give another with --checkpoint "
          "FILE",
          prefix, uuid, recorded->path, *problem));
    }
    resolved.checkpoint_file = recorded->path;
  } else if (const auto owner =
                 checkpointRun(*store, resolved.checkpoint_file, uuid);
             owner && *owner != uuid) {
    // The run's spec with another run's weights would be recorded, or
    // exported, as this run's.
    throw spec::SpecError(fmt::format(
        "{}: that file is a checkpoint of run {} ({}) (the same bytes), not "
        "of run {} ({}); name that run, or a spec file",
        prefix, store->runHeader(*owner).name, *owner,
        store->runHeader(uuid).name, uuid));
  }
  resolved.spec = storedSpec(*store, uuid, host);
  resolved.run = uuid;
  return resolved;
}

void requireTrainedClasses(const GlobalOptions& global,
                           const std::optional<std::string>& run,
                           const std::vector<std::string>& classes,
                           const std::string& command) {
  if (!run) return;
  const auto trained = openExistingStore(global)->trainedClassNames(*run);
  if (trained.empty() || trained == classes) return;
  std::string difference =
      fmt::format("{} classes, recorded {}", classes.size(), trained.size());
  if (classes.size() == trained.size()) {
    // Not equal, so some class differs.
    const std::size_t k = static_cast<std::size_t>(
        std::mismatch(classes.begin(), classes.end(), trained.begin()).first -
        classes.begin());
    difference = fmt::format("class {} is '{}', recorded as '{}'", k,
                             classes[k], trained[k]);
  }
  throw spec::SpecError(fmt::format(
      "{}: run {} was trained on other classes than the spec's data gives "
      "now ({}), and every output would be labelled as another class; if the "
      "run's annotations changed since, put them back, or name a spec whose "
      "data.classes lists the trained order, with --checkpoint FILE",
      command, *run, difference));
}

namespace {

// A resumed run that recorded checkpoints continues from one of them (or
// resume refuses), so its initial weights are not read: the pretrained file
// it started from may have moved since. Where the store is not at hand (a
// worker on another machine), they are read as for a new run.
train::ModelWeights weightsOfRole(const GlobalOptions& global,
                                  const dist::RoleRequest& request,
                                  const train::RunControls& controls) {
  std::error_code error;
  if (request.run.empty() || controls.restart ||
      !fs::is_regular_file(global.db, error)) {
    return train::ModelWeights::kInitial;
  }
  return openExistingStore(global)->checkpoints(request.run).empty()
             ? train::ModelWeights::kInitial
             : train::ModelWeights::kCheckpoint;
}

// A run's experiment in the role dist gives this process.
class ExperimentRole : public dist::Participant {
 public:
  ExperimentRole(const GlobalOptions& global, const dist::RoleRequest& request,
                 train::ResolvedSpec spec, const plugins::PluginHost& host,
                 train::RunControls controls)
      : db_(global.db),
        resume_(request.run),
        controls_(std::move(controls)),
        experiment_(std::move(spec), host, global.db,
                    weightsOfRole(global, request, controls_)) {
    if (resume_.empty()) experiment_.checkWatchedKeys();
  }

  dist::GroupOptions groupOptions() const override {
    return experiment_.options().group;
  }
  void join(dist::Collective& group) override { experiment_.joinGroup(group); }

  int lead() override {
    auto store = store::RunStore::open(db_);
    return reportOutcome(
        resume_.empty()
            ? experiment_.run(*store, controls_, std::cout)
            : experiment_.resume(*store, resume_, controls_, std::cout),
        db_);
  }

  dist::Followed follow() override {
    // Rank 0 reports for the group; the others print only their failure.
    train::RunControls quiet = controls_;
    quiet.quiet = true;
    std::ostream discard(nullptr);
    const train::RunOutcome outcome = experiment_.follow(quiet, discard);
    return {outcome.status == "FINISHED",
            outcome.status == "FAILED" ? outcome.error : ""};
  }

 private:
  std::string db_;
  std::string resume_;
  train::RunControls controls_;
  train::Experiment experiment_;
};

}  // namespace

int trainInRole(const GlobalOptions& global, const dist::RoleRequest& request,
                train::ResolvedSpec spec, const plugins::PluginHost& host,
                train::RunControls controls) {
  return dist::playRole(
      request,
      [&] {
        // The workers would each report what is found here, once.
        train::checkDeviceForWorkers(spec.tree);
        if (request.run.empty()) {
          train::checkWatchedKeys(spec, host);
        } else {
          train::bindOptions(spec.tree, host);
        }
      },
      [&] {
        return std::make_unique<ExperimentRole>(
            global, request, std::move(spec), host, std::move(controls));
      },
      std::cerr);
}

}  // namespace labrun::cli
