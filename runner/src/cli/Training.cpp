#include "cli/Training.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "dist/Group.h"
#include "spec/SpecError.h"

namespace labrun::cli {

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
                                  host);
}

CommandTarget resolveTarget(const store::RunStore& store,
                            const std::string& target, bool spec_target,
                            const std::vector<std::string>& overrides,
                            const std::string& checkpoint,
                            const plugins::PluginHost& host) {
  if (!spec_target) {
    std::string uuid = store.resolveRun(target);
    return {storedSpec(store, uuid, host), std::move(uuid)};
  }
  return {train::resolveSpec(target, overrides, host),
          checkpoint == "init"
              ? std::nullopt
              : store.checkpointOwner(
                    std::filesystem::absolute(checkpoint).string())};
}

std::optional<dist::WorldInfo> workerPlace() {
  try {
    return dist::WorldInfo::fromEnvironment();
  } catch (const std::invalid_argument& bad) {
    throw spec::SpecError(bad.what());
  }
}

int runWorker(const GlobalOptions& global, train::Experiment& experiment,
              const dist::WorldInfo& world, const ProgressArgs& progress,
              const std::string& resume_uuid) {
  dist::GroupOptions options;
  options.backend = experiment.backend();
  options.timeout = std::chrono::seconds(
      experiment.tree().at("distributed.timeout_s").asInt());
  options.bucket_bytes = static_cast<std::int64_t>(
      experiment.tree().at("distributed.bucket_mb").asDouble() * (1 << 20));
  dist::Group group(world, options);
  experiment.joinGroup(group);
  train::RunControls controls = runControls(global, progress);
  if (world.rank != 0) {
    // Rank 0 reports for the group; the others print only their failure.
    controls.quiet = true;
    std::ostream discard(nullptr);
    const train::RunOutcome outcome = experiment.follow(controls, discard);
    if (outcome.status == "FINISHED") return kOk;
    if (outcome.status == "FAILED") {  // the error names the rank
      std::cerr << "labrun: " << outcome.error << "\n";
      // For the launcher's note, which rank 0 records with the run.
      group.publish("error/" + std::to_string(world.rank), outcome.error);
    }
    return kRunFailed;
  }
  auto store = store::RunStore::open(global.db);
  return reportOutcome(
      resume_uuid.empty()
          ? experiment.run(*store, controls, std::cout)
          : experiment.resume(*store, resume_uuid, controls, std::cout),
      global.db);
}

}  // namespace labrun::cli
