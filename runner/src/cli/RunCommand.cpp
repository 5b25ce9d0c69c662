// `labrun run`: trains the experiment a spec describes (in this process, or
// as the launcher of a data-parallel run).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/Training.h"
#include "dist/Launcher.h"

namespace labrun::cli {
namespace {

struct RunArgs {
  std::string spec;
  std::vector<std::string> overrides;
  bool dry_run = false;
  ProgressArgs progress;
  dist::LaunchOptions launch;  // --nproc, --nnodes, --node-rank, --master
};

int runSpec(const GlobalOptions& global, const RunArgs& args) {
  const plugins::PluginHost host = loadPlugins(global);
  train::ResolvedSpec spec =
      train::resolveSpec(args.spec, args.overrides, host.schemaLookup());
  if (args.dry_run) {
    // Every check that needs no data: the options bind as the run's would
    // (transforms, metric instances, device), and the watched keys are
    // checked where the class names need no annotation file; else they
    // wait for the run, which says so.
    const train::ExperimentOptions options =
        train::bindOptions(spec.tree, host);
    if (!train::checkWatchedKeysWithoutData(spec, options, host)) {
      std::vector<std::string> keys;
      for (const auto& watched : options.watched) keys.push_back(watched.key);
      std::cerr << fmt::format(
          "labrun: not checked yet: {} (the run checks them once it has "
          "read the class names from the annotations; data.classes would "
          "let --dry-run check them)\n",
          fmt::join(keys, ", "));
    }
    std::cout << spec.yaml;
    return kOk;
  }
  dist::RoleRequest request;
  request.launch = args.launch;
  request.db_path = global.db;
  // Everything that can be wrong with the spec fails before a run record
  // exists (in the launcher too, before any worker starts).
  return trainInRole(global, request, std::move(spec), host,
                     runControls(global, args.progress));
}

class RunCommand : public Command {
 public:
  CLI::App* add(CLI::App& app) override {
    auto* run =
        app.add_subcommand("run", "Train the experiment described by SPEC");
    run->add_option("spec", args_.spec, "Experiment spec (YAML)")
        ->required()
        ->check(CLI::ExistingFile);
    run->add_option("overrides", args_.overrides,
                    "Overrides: a.b=v (set), +a.b=v (add), ++a.b=v (set or "
                    "add), ~a.b (delete); values are YAML");
    run->add_flag("--dry-run", args_.dry_run,
                  "Print the fully resolved spec and exit");
    addProgressFlags(run, args_.progress);
    addLaunchFlags(run, args_.launch, /*with_nproc=*/true);
    return run;
  }

  int run(const GlobalOptions& global) override {
    return runSpec(global, args_);
  }

 private:
  RunArgs args_;
};

}  // namespace

LABRUN_COMMAND(RunCommand, "run", 10)

}  // namespace labrun::cli
