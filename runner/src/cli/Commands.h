// The `labrun` subcommands. Each returns the process exit code:
// 0 ok, 1 run failed, 2 usage or spec error (see ExitCode).
#pragma once

#include <string>
#include <vector>

#include "cli/TablePrinter.h"

namespace labrun::cli {

enum ExitCode : int { kOk = 0, kRunFailed = 1, kUsageError = 2 };

struct GlobalOptions {
  std::string db;  // resolved: --db, then LABRUN_DB, then runs/labrun.db
  std::vector<std::string> plugin_path;  // --plugin-path entries
  std::string command_line;
};

struct RunArgs {
  std::string spec;
  std::vector<std::string> overrides;
  bool dry_run = false;
};

int runCommand(const GlobalOptions& global, const RunArgs& args);
int runsCommand(const GlobalOptions& global, int limit, TableFormat format);
int showCommand(const GlobalOptions& global, const std::string& run);
int sqlCommand(const GlobalOptions& global, const std::string& sql,
               TableFormat format);
int pluginsCommand(const GlobalOptions& global, const std::string& name);

}  // namespace labrun::cli
