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

// What `eval` and `predict` apply to a checkpoint: a spec file (with
// `overrides`), whose run is the one that recorded `checkpoint` (nothing for
// "init" or a file no run recorded), or a run reference with its stored spec.
struct CommandTarget {
  train::ResolvedSpec spec;
  std::optional<std::string> run;
};
CommandTarget resolveTarget(const store::RunStore& store,
                            const std::string& target, bool spec_target,
                            const std::vector<std::string>& overrides,
                            const std::string& checkpoint,
                            const plugins::PluginHost& host);

// Trains `spec` in this process's role (dist/Roles.h): a new run, or
// `request.run` resumed when it is set. The launcher only checks the spec
// (binds it, so a bad one fails before any worker starts); a worker or a
// single process builds the experiment and leads or follows.
int trainInRole(const GlobalOptions& global, const dist::RoleRequest& request,
                train::ResolvedSpec spec, const plugins::PluginHost& host,
                const ProgressArgs& progress);

}  // namespace labrun::cli
