// `labrun resume`: continues a stopped, failed or crashed run from its last
// checkpoint (a data-parallel run with its recorded world size).
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/Training.h"
#include "dist/Launcher.h"
#include "spec/SpecError.h"

namespace labrun::cli {
namespace {

int resumeRun(const GlobalOptions& global, const std::string& run_ref,
              const ProgressArgs& progress, const dist::LaunchOptions& launch) {
  const plugins::PluginHost host = loadPlugins(global);
  auto store = store::RunStore::open(global.db);
  const std::string uuid = store->resolveRun(run_ref);
  const std::int64_t world_size = store->worldSize(uuid);
  const auto world = workerPlace();
  if (!world && world_size > 1) {
    if (world_size % launch.nnodes != 0) {
      throw spec::SpecError(fmt::format(
          "run {} had {} processes: --nnodes {} does not divide them", uuid,
          world_size, launch.nnodes));
    }
    dist::LaunchOptions options = launch;
    options.nproc = world_size / launch.nnodes;
    store.reset();  // rank 0 reopens it
    return dist::Launcher(options, global.db).run(std::cerr);
  }
  if (world && world->world_size != world_size) {
    throw spec::SpecError(
        fmt::format("run {} had {} processes; this group has {}", uuid,
                    world_size, world->world_size));
  }
  train::Experiment experiment(storedSpec(*store, uuid, host), host, global.db);
  if (world) {
    store.reset();
    return runWorker(global, experiment, *world, progress, uuid);
  }
  return reportOutcome(
      experiment.resume(*store, uuid, runControls(global, progress), std::cout),
      global.db);
}

class ResumeCommand : public Command {
 public:
  CLI::App* add(CLI::App& app) override {
    auto* resume = app.add_subcommand(
        "resume",
        "Continue a stopped, failed or crashed run from its last checkpoint");
    resume->add_option("run", run_ref_, "Run uuid, unique uuid prefix or name")
        ->required();
    addProgressFlags(resume, progress_);
    addLaunchFlags(resume, launch_, /*with_nproc=*/false);
    resume->footer(kExitCodes);
    return resume;
  }

  int run(const GlobalOptions& global) override {
    return resumeRun(global, run_ref_, progress_, launch_);
  }

 private:
  std::string run_ref_;
  ProgressArgs progress_;
  dist::LaunchOptions launch_;
};

}  // namespace

LABRUN_COMMAND(ResumeCommand, "resume", 30)

}  // namespace labrun::cli
