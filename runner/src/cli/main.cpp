// labrun: run multi-label image recognition experiments from YAML specs and
// keep every run in SQLite.
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/Commands.h"
#include "plugins/PluginHost.h"
#include "spec/SpecError.h"
#include "store/RunStore.h"

namespace {

using labrun::cli::ExitCode;
using labrun::cli::TableFormat;

constexpr const char* kExitCodes =
    "Exit codes: 0 ok, 1 run failed, 2 usage or spec error.";

std::string joinArgs(int argc, char** argv) {
  std::string line;
  for (int i = 0; i < argc; ++i) line += (i ? " " : "") + std::string(argv[i]);
  return line;
}

struct FormatFlags {
  bool csv = false;
  bool json = false;
  void add(CLI::App* command) {
    auto* csv_flag = command->add_flag("--csv", csv, "Print CSV");
    command->add_flag("--json", json, "Print a JSON array of objects")
        ->excludes(csv_flag);
  }
  TableFormat format() const {
    return csv ? TableFormat::kCsv
               : json ? TableFormat::kJson : TableFormat::kText;
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"labrun: multi-label image recognition experiments", "labrun"};
  app.footer(kExitCodes);
  app.require_subcommand(1);
  app.fallthrough();

  labrun::cli::GlobalOptions global;
  global.command_line = joinArgs(argc, argv);
  app.add_option("--db", global.db,
                 "Run store file (default: $LABRUN_DB or runs/labrun.db)");
  app.add_option("--plugin-path", global.plugin_path,
                 "Folder searched for plugins first (repeatable; then "
                 "$LABRUN_PLUGIN_PATH, then next to the executable)");

  labrun::cli::RunArgs run_args;
  auto* run = app.add_subcommand("run", "Train the experiment described by SPEC");
  run->add_option("spec", run_args.spec, "Experiment spec (YAML)")
      ->required()
      ->check(CLI::ExistingFile);
  run->add_option("overrides", run_args.overrides,
                  "Overrides: a.b=v (set), +a.b=v (add), ++a.b=v (set or "
                  "add), ~a.b (delete); values are YAML");
  run->add_flag("--dry-run", run_args.dry_run,
                "Print the fully resolved spec and exit");
  run->footer(kExitCodes);

  int limit = 20;
  FormatFlags runs_format;
  auto* runs = app.add_subcommand("runs", "Table of past runs, newest first");
  runs->add_option("--limit,-n", limit, "Rows to show")->capture_default_str();
  runs_format.add(runs);
  runs->footer(kExitCodes);

  std::string run_ref;
  auto* show = app.add_subcommand(
      "show", "Spec, parameters, metrics, checkpoints and plugins of a run");
  show->add_option("run", run_ref, "Run uuid, unique uuid prefix or run name")
      ->required();
  show->footer(kExitCodes);

  std::string sql_text;
  FormatFlags sql_format;
  auto* sql = app.add_subcommand(
      "sql", "Run a read-only SQL query on the run store (see docs/STORE.md)");
  sql->add_option("query", sql_text, "One SQL statement")->required();
  sql_format.add(sql);
  sql->footer(kExitCodes);

  std::string plugin_name;
  auto* plugins = app.add_subcommand(
      "plugins", "List the plugins found and their parameters");
  plugins->add_option("name", plugin_name, "Show only this plugin");
  plugins->footer(kExitCodes);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // --help and --version exit 0; every parse error is a usage error.
    const int code = app.exit(error);
    return code == 0 ? ExitCode::kOk : ExitCode::kUsageError;
  }
  if (global.db.empty()) {
    const char* env = std::getenv("LABRUN_DB");
    global.db = env && *env ? env : "runs/labrun.db";
  }

  try {
    if (*run) return labrun::cli::runCommand(global, run_args);
    if (*runs) return labrun::cli::runsCommand(global, limit, runs_format.format());
    if (*show) return labrun::cli::showCommand(global, run_ref);
    if (*sql) return labrun::cli::sqlCommand(global, sql_text, sql_format.format());
    if (*plugins) return labrun::cli::pluginsCommand(global, plugin_name);
  } catch (const labrun::spec::SpecError& error) {
    std::cerr << "labrun: error: " << error.what() << "\n";
    return ExitCode::kUsageError;
  } catch (const labrun::plugins::PluginError& error) {
    std::cerr << "labrun: error: " << error.what() << "\n";
    return ExitCode::kUsageError;
  } catch (const labrun::store::StoreError& error) {
    std::cerr << "labrun: error: " << error.what() << "\n";
    return ExitCode::kUsageError;
  } catch (const std::exception& error) {
    std::cerr << "labrun: error: " << error.what() << "\n";
    return ExitCode::kRunFailed;
  }
  return ExitCode::kUsageError;
}
