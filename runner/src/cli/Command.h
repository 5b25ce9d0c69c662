// A `labrun` subcommand. Each command's file declares its options and its
// handler in one Command and registers it with LABRUN_COMMAND; the app
// (cli/App.h) is built from the registry, so adding a command touches its
// own file and the CMake source list only.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace CLI {
class App;
}

namespace labrun::cli {

enum ExitCode : int { kOk = 0, kRunFailed = 1, kUsageError = 2 };

struct GlobalOptions {
  std::string db;  // resolved: --db, then LABRUN_DB, then runs/labrun.db
  std::vector<std::string> plugin_path;  // --plugin-path entries
  std::string command_line;
};

class Command {
 public:
  virtual ~Command() = default;
  // Adds the subcommand with its options and help to `app`.
  virtual CLI::App* add(CLI::App& app) = 0;
  // Runs the command once parsing chose it; returns the exit code.
  virtual int run(const GlobalOptions& global) = 0;
};

// Every command linked into this executable.
class CommandRegistry {
 public:
  using Factory = std::function<std::unique_ptr<Command>()>;
  struct Entry {
    std::string name;
    int order;  // place in `labrun --help`
    Factory make;
  };

  // Called by LABRUN_COMMAND during static initialisation.
  static bool add(std::string name, int order, Factory make);
  // Sorted by order.
  static std::vector<Entry> entries();
  static bool has(const std::string& name);
};

}  // namespace labrun::cli

// Registers Type (a Command with a default constructor) as `name`, listed
// at `order` (run 10, prepare 20, ... spec-doc 120).
#define LABRUN_COMMAND(Type, name, order)                        \
  namespace {                                                    \
  [[maybe_unused]] const bool kRegistered##Type =                \
      ::labrun::cli::CommandRegistry::add(                       \
          name, order, [] { return std::make_unique<Type>(); }); \
  }
