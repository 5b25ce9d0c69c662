// What the commands that build an experiment share: plugins, run controls,
// stored specs, and the ranks of a data-parallel run.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cli/Command.h"
#include "cli/CommandFlags.h"
#include "dist/Roles.h"
#include "plugins/PluginHost.h"
#include "store/RunStore.h"
#include "train/Experiment.h"

namespace labrun::cli {

// Plugins from --plugin-path, $LABRUN_PLUGIN_PATH and next to the binary;
// unloadable files are reported as warnings on stderr.
plugins::PluginHost loadPlugins(const GlobalOptions& global);

train::RunControls runControls(const GlobalOptions& global,
                               const ProgressArgs& progress);

// Prints how a run ended; returns the exit code.
int reportOutcome(const train::RunOutcome& outcome, const std::string& db);

// A run's stored spec, validated again with today's plugins.
train::ResolvedSpec storedSpec(const store::RunStore& store,
                               const std::string& uuid,
                               const plugins::PluginHost& host);

// What `eval`, `predict` and `export` apply to a checkpoint.
struct TargetRequest {
  std::string command;     // names the errors: "eval", "predict", "export"
  std::string target;      // a spec file or a run reference
  bool runs_only = false;  // a run reference, even if a file
  std::vector<std::string> overrides;  // a spec file's
  std::string checkpoint;  // "" = init for a spec file, best for a run
};
struct CommandTarget {
  train::ResolvedSpec spec;
  // A run reference's uuid, or the run that recorded a spec file's
  // checkpoint file (none for init or a file no run recorded).
  std::optional<std::string> run;
  std::string checkpoint;       // as asked: init, best, last or a file
  std::string checkpoint_file;  // the file to load; "" for init
};
// A spec file (with its overrides) or a run reference with its stored
// spec, read from the store at global.db (never created here). The
// checkpoint is checked first, as a usage error (spec::SpecError) naming
// the command: a spec file takes init or a checkpoint file, a run best,
// last or a checkpoint file, and the one named must exist.
// A run's best and last are looked up here, so that the commands load a
// file and need no store for it.
CommandTarget resolveTarget(const GlobalOptions& global,
                            const TargetRequest& request,
                            const plugins::PluginHost& host);

// Refuses (spec::SpecError) to apply run `run`'s weights when the classes
// the spec's data now gives (`classes`, Experiment::classNames; the run's
// own spec, or one given with its checkpoint) are not those it recorded
// with its per-class metrics: annotations changed, reordered or moved since
// would put every label on another class. No run, or a run without
// per-class metrics: nothing to check.
void requireTrainedClasses(const GlobalOptions& global,
                           const std::optional<std::string>& run,
                           const std::vector<std::string>& classes,
                           const std::string& command);

// Trains `spec` in this process's role (dist/Roles.h): a new run, or
// `request.run` resumed when it is set. The launcher only checks the spec
// (binds it, so a bad one fails before any worker starts); a worker or a
// single process builds the experiment and leads or follows, under
// `controls` (runControls() and what the command adds).
int trainInRole(const GlobalOptions& global, const dist::RoleRequest& request,
                train::ResolvedSpec spec, const plugins::PluginHost& host,
                train::RunControls controls);

}  // namespace labrun::cli
