#include "cli/App.h"

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include "cli/Command.h"
#include "cli/CommandFlags.h"
#include "plugins/PluginError.h"
#include "spec/SpecError.h"
#include "store/RunStore.h"

namespace labrun::cli {
namespace {

std::string joinArgs(int argc, char** argv) {
  std::string line;
  for (int i = 0; i < argc; ++i) line += (i ? " " : "") + std::string(argv[i]);
  return line;
}

// Every command's --help ends with the exit codes (CLI11 does not pass a
// footer on to subcommands).
void addExitCodes(CLI::App& app) {
  app.footer(kExitCodes);
  for (CLI::App* sub : app.get_subcommands({})) addExitCodes(*sub);
}

// The options before the command, for runApp and commandName alike.
void addGlobalOptions(CLI::App& app, GlobalOptions& global) {
  app.add_option("--db", global.db,
                 "Run store file (default: $LABRUN_DB or runs/labrun.db)")
      ->check(CLI::Validator(
          [](std::string& path) -> std::string {
            // An empty value would fall back to the default without a word.
            return path.empty() ? "expected a file path, found ''" : "";
          },
          "FILE"));
  app.add_option("--plugin-path", global.plugin_path,
                 "Folder searched for plugins first (repeatable; then "
                 "$LABRUN_PLUGIN_PATH, then next to the executable)")
      ->check(CLI::ExistingDirectory);
}

}  // namespace

std::string commandName(int argc, char** argv) {
  CLI::App app;
  GlobalOptions ignored;
  addGlobalOptions(app, ignored);
  app.prefix_command();  // the command and what follows stay unparsed
  app.allow_extras();
  try {
    app.parse(argc, argv);
  } catch (const CLI::Error&) {
    return "";  // --help, or a bad global option: runApp says so
  }
  for (const std::string& arg : app.remaining()) {
    if (arg.rfind('-', 0) != 0) return arg;
  }
  return "";
}

int runApp(int argc, char** argv) {
  CLI::App app{"labrun: multi-label image recognition experiments", "labrun"};
  app.require_subcommand(1);
  app.fallthrough();

  GlobalOptions global;
  global.command_line = joinArgs(argc, argv);
  addGlobalOptions(app, global);

  std::vector<std::pair<CLI::App*, std::unique_ptr<Command>>> commands;
  for (const auto& entry : CommandRegistry::entries()) {
    std::unique_ptr<Command> command = entry.make();
    CLI::App* sub = command->add(app);
    commands.emplace_back(sub, std::move(command));
  }
  addExitCodes(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // --help and --version exit 0; every parse error is a usage error.
    const int code = app.exit(error);
    return code == 0 ? kOk : kUsageError;
  }
  if (global.db.empty()) {
    const char* env = std::getenv("LABRUN_DB");
    global.db = env && *env ? env : "runs/labrun.db";
  }

  try {
    for (auto& [sub, command] : commands) {
      if (*sub) return command->run(global);
    }
  } catch (const spec::SpecError& error) {
    std::cerr << "labrun: error: " << error.what() << "\n";
    return kUsageError;
  } catch (const plugins::PluginError& error) {
    std::cerr << "labrun: error: " << error.what() << "\n";
    return kUsageError;
  } catch (const store::StoreBusyError& error) {
    std::cerr << "labrun: error: " << error.what() << "\n";
    return kRunFailed;
  } catch (const store::StoreClaimLost& error) {
    std::cerr << "labrun: error: " << error.what() << "\n";
    return kRunFailed;
  } catch (const store::StoreError& error) {
    std::cerr << "labrun: error: " << error.what() << "\n";
    return kUsageError;
  } catch (const std::exception& error) {
    std::cerr << "labrun: error: " << error.what() << "\n";
    return kRunFailed;
  }
  return kUsageError;
}

}  // namespace labrun::cli
