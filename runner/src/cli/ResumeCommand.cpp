// `labrun resume`: continues a stopped, failed or crashed run from its last
// checkpoint (a data-parallel run with its recorded world size).
#include <fmt/format.h>

#include <CLI/CLI.hpp>

#include "cli/StoreAccess.h"
#include "cli/Training.h"
#include "spec/SpecError.h"

namespace labrun::cli {
namespace {

int resumeRun(const GlobalOptions& global, const std::string& run_ref,
              const ProgressArgs& progress, const dist::LaunchOptions& launch,
              bool restart) {
  const plugins::PluginHost host = loadPlugins(global);
  auto store = openExistingStore(global, /*read_only=*/false);
  const std::string uuid = store->resolveRun(run_ref, /*prefer_trained=*/true);
  if (const auto header = store->runHeader(uuid); header.kind == "eval") {
    // Resuming would train what was only to be evaluated.
    throw spec::SpecError(fmt::format(
        "resume {}: run {} ({}) is an evaluation-only run (labrun eval SPEC): "
        "it trains nothing, so there is nothing to resume; evaluate the spec "
        "again instead",
        run_ref, uuid, header.name));
  }
  dist::RoleRequest request;
  request.launch = launch;
  request.recorded_world_size = store->worldSize(uuid);
  request.run = uuid;
  request.db_path = global.db;
  train::ResolvedSpec spec = storedSpec(*store, uuid, host);
  store.reset();  // the leading process opens it again
  train::RunControls controls = runControls(global, progress);
  controls.restart = restart;
  return trainInRole(global, request, std::move(spec), host,
                     std::move(controls));
}

class ResumeCommand : public Command {
 public:
  CLI::App* add(CLI::App& app) override {
    auto* resume = app.add_subcommand(
        "resume",
        "Continue a stopped, failed or crashed run from its last checkpoint");
    resume->add_option("run", run_ref_, "Run uuid, unique uuid prefix or name")
        ->required();
    resume->add_flag("--restart", restart_,
                     "Start the run over when none of its recorded "
                     "checkpoints is intact, dropping what it recorded "
                     "(without it, such a resume is refused)");
    addProgressFlags(resume, progress_);
    addLaunchFlags(resume, launch_, /*with_nproc=*/false);
    return resume;
  }

  int run(const GlobalOptions& global) override {
    return resumeRun(global, run_ref_, progress_, launch_, restart_);
  }

 private:
  std::string run_ref_;
  bool restart_ = false;
  ProgressArgs progress_;
  dist::LaunchOptions launch_;
};

}  // namespace

LABRUN_COMMAND(ResumeCommand, "resume", 30)

}  // namespace labrun::cli
