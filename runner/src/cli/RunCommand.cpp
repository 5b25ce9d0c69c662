// `labrun run`: trains the experiment a spec describes (in this process, or
// as the launcher of a data-parallel run).
#include <iostream>

#include <CLI/CLI.hpp>
#include <torch/cuda.h>

#include "cli/Training.h"
#include "dist/Group.h"
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
      train::resolveSpec(args.spec, args.overrides, host);
  if (args.dry_run) {
    std::cout << spec.yaml;
    return kOk;
  }
  const auto world = workerPlace();
  if (!world && args.launch.distributed()) {
    // The workers build the experiment; a bad backend fails here already.
    dist::chooseBackend(spec.tree.at("distributed.backend"),
                        spec.tree.at("device").asString() != "cpu" &&
                            torch::cuda::is_available());
    return dist::Launcher(args.launch, global.db).run(std::cerr);
  }
  // Everything that can be wrong with the spec fails here, before a run
  // record exists.
  train::Experiment experiment(std::move(spec), host, global.db);
  if (world) return runWorker(global, experiment, *world, args.progress, "");
  auto store = store::RunStore::open(global.db);
  return reportOutcome(
      experiment.run(*store, runControls(global, args.progress), std::cout),
      global.db);
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
    run->footer(kExitCodes);
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
