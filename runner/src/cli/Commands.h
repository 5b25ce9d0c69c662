// The `labrun` subcommands. Each returns the process exit code:
// 0 ok, 1 run failed, 2 usage or spec error (see ExitCode).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cli/TablePrinter.h"
#include "data/FashionMosaic.h"
#include "dist/Launcher.h"

namespace labrun::plugins {
class PluginHost;
}
namespace labrun::store {
class RunStore;
}

namespace labrun::cli {

enum ExitCode : int { kOk = 0, kRunFailed = 1, kUsageError = 2 };

struct GlobalOptions {
  std::string db;  // resolved: --db, then LABRUN_DB, then runs/labrun.db
  std::vector<std::string> plugin_path;  // --plugin-path entries
  std::string command_line;
};

struct ProgressArgs {
  bool quiet = false;
  std::int64_t log_every = -1;  // -1: the spec's train.log_every
};

struct RunArgs {
  std::string spec;
  std::vector<std::string> overrides;
  bool dry_run = false;
  ProgressArgs progress;
  dist::LaunchOptions launch;  // --nproc, --nnodes, --node-rank, --master
};

struct EvalArgs {
  std::string target;  // a run reference, or a spec file
  std::vector<std::string> overrides;  // with a spec file
  // "" = the target's default: init for a spec, best for a run.
  std::string checkpoint;
  std::string scores;
};

// `labrun prepare`: parses the spec's annotations into the label cache.
struct PrepareArgs {
  std::string spec;
  std::vector<std::string> overrides;
  std::string split;  // "train" or "val"; empty: both
};

int runCommand(const GlobalOptions& global, const RunArgs& args);
int prepareCommand(const GlobalOptions& global, const PrepareArgs& args);
// Builds data/fashion-mosaic (or finds it complete) and prints its paths.
int prepareFashionMosaicCommand(const data::FashionMosaicOptions& options);
// A data-parallel run restarts with its recorded world size: `launch`
// says how it spreads over machines (its nproc is derived).
int resumeCommand(const GlobalOptions& global, const std::string& run,
                  const ProgressArgs& progress,
                  const dist::LaunchOptions& launch);
int evalCommand(const GlobalOptions& global, const EvalArgs& args);
// `labrun runs`: rows of the run_summary view, filtered and sorted.
struct RunsArgs {
  int limit = 20;
  std::string where;   // the user's SQL condition on run_summary's columns
  std::string status;  // only runs with this status
  std::string name;    // only runs whose name matches this GLOB
  std::string sort = "-started_at";  // a run_summary column; '-': descending
  TableFormat format = TableFormat::kText;
};

// Plugins from --plugin-path, $LABRUN_PLUGIN_PATH and next to the binary;
// unloadable files are reported as warnings on stderr.
plugins::PluginHost loadPlugins(const GlobalOptions& global);
// The store, read-only; StoreError when the file does not exist (reading
// commands never create one).
std::unique_ptr<store::RunStore> openExistingStore(const GlobalOptions& global);

int runsCommand(const GlobalOptions& global, const RunsArgs& args);
int showCommand(const GlobalOptions& global, const std::string& run);
int sqlCommand(const GlobalOptions& global, const std::string& sql,
               TableFormat format);
int pluginsCommand(const GlobalOptions& global, const std::string& name);

}  // namespace labrun::cli
